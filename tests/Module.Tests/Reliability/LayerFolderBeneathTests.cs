using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Under sudo the engine is root and the store the caller's. Reads inside a layer were confined to it,
/// but the layer's folder itself (a sandbox's upper/, an image's layer) was opened by its path: the
/// caller renamed their state folder or an image's layer folder away and put a link to a folder of
/// root's in its place, and root listed that folder's names (Get-SandboxStat -Changes) or took a user
/// from its etc/passwd (-User). The engine here is a real EngineHost as root with SUDO_UID set over a
/// store of the test user's, and the caller's swap (made as the caller, setpriv to their ids) comes
/// between two engine calls: deterministic, after the store check of the sandbox's creation. Each
/// layer folder reached beneath the store root without links (LayerFolder) is refused instead.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class LayerFolderBeneathTests
{
    private const string SecretName = "root-only-secret-name";

    [SkippableFact]
    public void Changes_of_a_state_folder_swapped_for_a_link_list_nothing_of_the_folder_it_leads_to()
    {
        using var store = StoreWithFirstImage("layer-changes");
        var sandbox = store.Engine.Create(new SandboxCreateOptions { Image = "first", Provider = ProviderName.Bubblewrap });
        var state = ((ISandboxHarness)store.Engine).StateFolder(sandbox.Id);
        // A folder only root may enter, laid out as a state folder: its upper/ holds a file whose name is root's.
        var victim = Path.Combine(store.Folder, "victim-state");
        Directory.CreateDirectory(Path.Combine(victim, "upper"));
        File.WriteAllText(Path.Combine(victim, "upper", SecretName), "root's\n");
        // The sandbox's own state.json there: the engine loads it before it walks upper/, and the swap
        // stands for one landing between the two (the caller cannot write into root's folder).
        File.Copy(Path.Combine(state, "state.json"), Path.Combine(victim, "state.json"));
        File.SetUnixFileMode(victim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        using (store.SwapForLink(state, victim))
        {
            IReadOnlyList<SandboxChange>? changes = null;
            var error = Record.Exception(() => changes = store.Engine.Changes(sandbox.Id));

            Assert.True(error is not null, $"root listed the folder the link led to: {string.Join(", ", changes?.Select(change => change.Path) ?? Enumerable.Empty<string>())}");
            Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(error).ErrorId);
            Assert.Contains("upper", error.Message);
        }
    }

    [SkippableFact]
    public void A_user_is_never_taken_from_an_image_layer_swapped_for_a_link()
    {
        using var store = StoreWithFirstImage("layer-passwd");
        var sandbox = store.Engine.Create(new SandboxCreateOptions { Image = "first", Provider = ProviderName.Bubblewrap });
        // The first command mounts the overlay on the host (root Bubblewrap), from the layers as they were.
        Assert.Equal(0, store.Engine.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "true" } }).ExitCode);
        var layer = Path.GetDirectoryName(((ISandboxHarness)store.Engine).ImageRootFs("first"))!;
        var victim = Path.Combine(store.Folder, "victim-layer");
        Directory.CreateDirectory(Path.Combine(victim, "tree", "etc"));
        // uid 0, so that the command runs and shows the home it was given: the line's own, root's folder's.
        File.WriteAllText(Path.Combine(victim, "tree", "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nintruder:x:0:0::/home-of-roots-folder:/bin/sh\n");
        File.SetUnixFileMode(victim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        using (store.SwapForLink(layer, victim))
        {
            SandboxCommandResult? result = null;
            var error = Record.Exception(() => result = store.Engine.Invoke(sandbox.Id, ShowHome("intruder")));

            Assert.True(error is not null, $"-User intruder was looked up in root's folder the link led to: the command ran with HOME={result?.StdOut.Trim()}");
            Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(error).ErrorId);
        }
        // The same store with the layer back: the image has no such user.
        Assert.Equal("UserNotFound", Assert.Throws<SandboxException>(() => store.Engine.Invoke(sandbox.Id, ShowHome("intruder"))).ErrorId);
    }

    [SkippableFact]
    public void Changes_and_users_of_a_store_nobody_swapped_are_still_read()
    {
        // The same calls with every folder where it should be: the refusals above are not all the new code does.
        using var store = StoreWithFirstImage("layer-works");
        var sandbox = store.Engine.Create(new SandboxCreateOptions { Image = "first", Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, store.Engine.Invoke(sandbox.Id, new SandboxCommand { Argv = new[] { "sh", "-c", "echo made > /made-here" } }).ExitCode);

        var changes = store.Engine.Changes(sandbox.Id);
        var admin = store.Engine.Invoke(sandbox.Id, ShowHome("admin"));

        Assert.Contains(changes, change => change.Path == "/made-here" && change.Kind == SandboxChangeKind.Added);
        Assert.Equal("/admin-home", admin.StdOut.Trim());
    }

    [SkippableFact]
    public void A_commit_whose_state_folder_is_swapped_for_a_link_as_tar_starts_copies_nothing_of_the_folder_it_leads_to()
    {
        // The commit takes the sandbox's commands lock (reached beneath the store), then ran tar -C on
        // upper/ by path: the state folder swapped after the lock (here while the engine logs tar's
        // command line, the last moment before it runs) had root copy a folder of root's into the new
        // layer, which under sudo the caller owns. In-process as root over a store of root's: the
        // engine's code is the same under sudo, only the owner of the store differs.
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("layer-commit");
        using var victim = new TemporaryFolder("layer-commit-victim");
        Directory.CreateDirectory(Path.Combine(victim.Path, "upper"));
        File.WriteAllText(Path.Combine(victim.Path, "upper", SecretName), "root's\n");
        SandboxInfo? sandbox = null;
        var swapped = false;
        var log = new SwapOnLogLine("sandbox-commit", () =>
        {
            if (sandbox is null || swapped) return;
            Directory.Move(sandbox.StatePath, sandbox.StatePath + "-away");
            File.CreateSymbolicLink(sandbox.StatePath, victim.Path);
            swapped = true;
        });
        var engine = new SandboxEngine(busybox.Engine.Layout, log);
        sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo made > /made-here" } }).ExitCode);
        try
        {
            var error = Record.Exception(() => engine.CommitSandbox(sandbox.Name, "committed", new Dictionary<string, string>(), false, CancellationToken.None));

            Assert.True(swapped, "the commit never logged tar's command line: the swap never happened");
            var tree = LayerTree(busybox.Root, "committed");
            Assert.False(tree is not null && File.Exists(Path.Combine(tree, SecretName)), "root copied the folder the link led to into the new layer");
            Assert.Null(error);
            Assert.True(File.Exists(Path.Combine(tree!, "made-here")), "the sandbox's own layer was not copied");
        }
        finally
        {
            if (swapped)
            {
                File.Delete(sandbox.StatePath);
                Directory.Move(sandbox.StatePath + "-away", sandbox.StatePath);
            }
            engine.RemoveSandbox(sandbox);
        }
    }

    /// <summary>The folder of <paramref name="image"/>'s own layer (its image.json's first layer), or null when there is no such image.</summary>
    private static string? LayerTree(string storeRoot, string image)
    {
        var manifest = Path.Combine(storeRoot, "images", image, "image.json");
        if (!File.Exists(manifest)) return null;
        var layer = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifest))!["Layers"]![0]!.GetValue<string>();
        return Path.Combine(storeRoot, "layers", layer, "tree");
    }

    /// <summary>
    /// A command as <paramref name="user"/> that prints the home -User gave it. The users here are uid 0:
    /// root Bubblewrap under sudo fails to start any command as another uid (bwrap: "Can't find source
    /// path /proc/self/fd/N: Permission denied", as on main), which would hide whether the user was found.
    /// </summary>
    private static SandboxCommand ShowHome(string user) => new() { Argv = new[] { "sh", "-c", "echo $HOME" }, User = user };

    /// <summary>A store of the caller's with an engine as root under their sudo over it, and the image "first" (busybox, and a user admin) imported.</summary>
    private static SudoCallersStore StoreWithFirstImage(string purpose)
    {
        var store = SudoCallersStore.Make(purpose);
        try
        {
            var tree = BusyboxTree.Create(Path.Combine(store.Folder, "first"));
            File.AppendAllText(Path.Combine(tree, "etc", "passwd"), "admin:x:0:0::/admin-home:/bin/sh\n");
            store.StartEngine().Import("first", tree);
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }
}
