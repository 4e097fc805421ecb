using Sandbox.Native;
using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Nothing a sandbox writes, and nothing an image holds, is reachable by another host user: the
/// store's folders are 0700 and its records 0600. The attacker is sandbox-test2; the sandbox plants
/// a setuid-root copy of id(1), which on a world-readable store gave any host user euid 0.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("User", "Root")]
public sealed class StorePermissionTests
{
    private const uint Private = 0b111_000_000;
    private const uint PrivateFile = 0b110_000_000;

    // Tries to run the planted program and read the record; prints what it managed.
    private const string Attack = "\"$1\" -u && echo EXECUTED; cat \"$2\" >/dev/null && echo READ; \"$3\" true && echo IMAGE-EXECUTED; true";

    [SkippableFact]
    public void Another_user_cannot_read_or_run_anything_of_a_root_store()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var store = new BusyboxStore("perm-root");
        var engine = store.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap,
            Environment = new Dictionary<string, string> { ["API_TOKEN"] = "secret-value" },
        });
        PlantSetuidCopy(sandbox.Id, (id, host, inside) => engine.Items.CopyInto(engine.GetSandbox(id), host, inside),
            (id, command) => engine.Invoke(engine.GetSandbox(id), command));
        var upperCopy = Path.Combine(sandbox.StatePath, "upper", "id");
        var mergedCopy = Path.Combine(sandbox.StatePath, "merged", "id"); // the overlay, mounted on the host
        Assert.Equal(0b100_111_101_101u, FileStatus.Of(upperCopy)!.Value.Permissions & 0b111_111_111_111); // really setuid root
        Assert.Equal(0u, FileStatus.Of(upperCopy)!.Value.Uid);

        var imageProgram = Path.Combine(store.Root, "layers", System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(store.Root, "images", HarnessFixture.ImageName, "image.json")))!["Layers"]![0]!.GetValue<string>(), "tree", "bin", "busybox");
        foreach (var planted in new[] { upperCopy, mergedCopy })
        {
            var (_, output) = OtherUser.Run(Attack, planted, Path.Combine(sandbox.StatePath, "state.json"), imageProgram);
            Assert.DoesNotContain("EXECUTED", output);
            Assert.DoesNotContain("READ", output);
            Assert.DoesNotContain("IMAGE-EXECUTED", output);
            Assert.Contains("Permission denied", output);
        }
        AssertPrivate(store.Root, sandbox.StatePath);
        engine.RemoveSandbox(sandbox);
    }

    [SkippableFact]
    public void Another_user_cannot_read_or_run_anything_of_a_rootless_store()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var tree = new TemporaryFolder("perm-user-tree");
        using var remote = new RemoteHarness();
        ISandboxHarness user = remote;
        user.Import(HarnessFixture.ImageName, BusyboxTree.Create(Path.Combine(tree.Path, "rootfs")));
        var sandbox = user.Create(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap,
            Environment = new Dictionary<string, string> { ["API_TOKEN"] = "secret-value" },
        });
        PlantSetuidCopy(sandbox.Id, user.CopyInto, user.Invoke);
        var state = user.StateFolder(sandbox.Id);
        var upperCopy = Path.Combine(state, "upper", "id");
        Assert.Equal(0b100_111_101_101u, FileStatus.Of(upperCopy)!.Value.Permissions & 0b111_111_111_111);
        var ownerUid = RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim();
        Assert.Equal(ownerUid, FileStatus.Of(upperCopy)!.Value.Uid.ToString());

        var (_, output) = OtherUser.Run(Attack, upperCopy, Path.Combine(state, "state.json"), Path.Combine(user.ImageRootFs(HarnessFixture.ImageName), "bin", "busybox"));
        Assert.DoesNotContain("EXECUTED", output);
        Assert.DoesNotContain("READ", output);
        Assert.Contains("Permission denied", output);
        AssertPrivate(user.StoreRoot, state);
        user.Remove(sandbox.Id);
    }

    [SkippableFact]
    public void Opening_a_store_left_world_readable_by_an_older_version_tightens_it()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        using var store = new BusyboxStore("perm-old");
        var open = (UnixFileMode)0b111_101_101;
        foreach (var folder in new[] { store.Root, Path.Combine(store.Root, "images"), Path.Combine(store.Root, "sandboxes"), Path.Combine(store.Root, "locks") })
            File.SetUnixFileMode(folder, open);
        Assert.Equal(0, OtherUser.Run("ls \"$1\"", Path.Combine(store.Root, "images")).ExitCode); // open, as before

        _ = new SandboxEngine(new StoreLayout(store.Root)); // what every cmdlet does

        foreach (var folder in new[] { store.Root, Path.Combine(store.Root, "images"), Path.Combine(store.Root, "sandboxes"), Path.Combine(store.Root, "locks") })
            Assert.Equal(Private, FileStatus.Of(folder)!.Value.Permissions);
        Assert.NotEqual(0, OtherUser.Run("ls \"$1\"", Path.Combine(store.Root, "images")).ExitCode);
    }

    /// <summary>The sandbox copies the host's id(1) to /id and makes it setuid (its owner is root inside).</summary>
    private static void PlantSetuidCopy(string sandbox, Action<string, string, string> copyInto, Func<string, SandboxCommand, SandboxCommandResult> invoke)
    {
        copyInto(sandbox, "/usr/bin/id", "/");
        var chmod = invoke(sandbox, new SandboxCommand { Argv = new[] { "chmod", "4755", "/id" } });
        Assert.True(chmod.ExitCode == 0, chmod.StdErr);
    }

    private static void AssertPrivate(string storeRoot, string stateFolder)
    {
        // (upper/ keeps the image's mode: it is / inside the sandbox; the state folder around it is private.)
        foreach (var folder in new[] { storeRoot, Path.Combine(storeRoot, "images"), Path.Combine(storeRoot, "sandboxes"), stateFolder })
            Assert.True(FileStatus.Of(folder)!.Value.Permissions == Private, $"{folder} is 0700 (is {Convert.ToString(FileStatus.Of(folder)!.Value.Permissions, 8)})");
        Assert.Equal(PrivateFile, FileStatus.Of(Path.Combine(stateFolder, "state.json"))!.Value.Permissions);
    }
}
