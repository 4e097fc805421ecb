using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Root Nspawn mounts the sandbox's overlay per command in a launcher shell, as root. It mounted from
/// store-relative paths (cd store; lowerdir=images/..,upperdir=sandboxes/ID/upper,...) onto merged/,
/// and nspawn ran in merged/ by path. Under sudo the store is the caller's: a state folder swapped for
/// a link to a folder of root's made that folder's upper/ the sandbox's (the command, as root, wrote
/// there), and an image layer swapped for a link let the sandbox read a host folder. Each test wins its
/// race deterministically: the swap comes between two engine calls, or while the engine logs the nspawn
/// command line (after every check of the command). With the layers held beneath the store
/// (HeldOverlayLayers) and named to the kernel by /proc/self/fd/N, and the overlay mounted on a folder of
/// root's, each swap is refused or changes nothing, and the host folder stays untouched.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class NspawnOverlayBeneathTests
{
    private static readonly SandboxCommand WriteMarker = new() { Argv = new[] { "sh", "-c", "echo written > /marker" }, Timeout = TimeSpan.FromSeconds(120) };

    [SkippableFact]
    public void A_state_folder_swapped_for_a_link_to_a_folder_of_roots_gets_no_write_there()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("nspawnfd-state-link");
        using var victim = new TemporaryFolder("nspawnfd-state-link-victim");
        var engine = busybox.Engine;
        var sandbox = NewSandbox(engine);
        try
        {
            Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "true" } }).ExitCode);
            PlantStateFolder(sandbox, victim.Path);
            Directory.Move(sandbox.StatePath, sandbox.StatePath + ".away");
            File.CreateSymbolicLink(sandbox.StatePath, victim.Path);

            // By path the overlay took the victim's upper/, and the command wrote there as root.
            var error = Record.Exception(() => engine.Invoke(sandbox, WriteMarker));

            Assert.False(File.Exists(Path.Combine(victim.Path, "upper", "marker")), "the command wrote into the folder the link led to");
            Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(error).ErrorId);
        }
        finally
        {
            PutBack(sandbox.StatePath);
        }
    }

    [SkippableFact]
    public void A_state_folder_swapped_after_the_checks_changes_nothing_the_command_writes()
    {
        // The swap comes while the engine logs the nspawn command line: after the layers are held, before
        // the launcher mounts. Held, the overlay is the sandbox's own upper/, wherever it was renamed to.
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("nspawnfd-late-swap");
        using var victim = new TemporaryFolder("nspawnfd-late-swap-victim");
        SandboxInfo? sandbox = null;
        var swapped = false;
        var log = new SwapOnLogLine("systemd-nspawn", () =>
        {
            if (sandbox is null || swapped) return;
            PlantStateFolder(sandbox, victim.Path);
            Directory.Move(sandbox.StatePath, sandbox.StatePath + ".away");
            File.CreateSymbolicLink(sandbox.StatePath, victim.Path);
            swapped = true;
        });
        var engine = new SandboxEngine(busybox.Engine.Layout, log);
        sandbox = NewSandbox(engine);
        try
        {
            Record.Exception(() => engine.Invoke(sandbox, WriteMarker));

            Assert.True(swapped, "the command line was not logged: the swap never happened");
            Assert.False(File.Exists(Path.Combine(victim.Path, "upper", "marker")), "the command wrote into the folder the link led to");
            Assert.True(File.Exists(Path.Combine(sandbox.StatePath + ".away", "upper", "marker")), "the command did not write into the sandbox's own upper/");
        }
        finally
        {
            PutBack(sandbox.StatePath);
        }
    }

    [SkippableFact]
    public void An_image_layer_swapped_for_a_link_shows_the_sandbox_no_host_folder()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("nspawnfd-layer-link");
        using var victim = new TemporaryFolder("nspawnfd-layer-link-victim");
        var engine = busybox.Engine;
        var sandbox = NewSandbox(engine);
        var layer = sandbox.LowerLayers.Count > 0 ? sandbox.LowerLayers[0] : sandbox.ImageRootFs;
        // The host folder the caller wants to read: a whole root (so the command can start), plus a secret.
        BusyboxTree.Create(victim.Path);
        File.WriteAllText(Path.Combine(victim.Path, "secret"), "root's secret\n");
        Directory.Move(layer, layer + ".away");
        File.CreateSymbolicLink(layer, victim.Path);
        try
        {
            var outcome = Record.Exception(() => Assert.DoesNotContain("root's secret",
                engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/secret" }, Timeout = TimeSpan.FromSeconds(120) }).StdOut));

            Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(outcome).ErrorId);
        }
        finally
        {
            File.Delete(layer);
            Directory.Move(layer + ".away", layer);
        }
    }

    [SkippableFact]
    public void A_writable_path_swapped_for_a_link_after_the_checks_binds_no_host_folder()
    {
        // -ReadOnlyRoot -WritablePath /build: nspawn bound a view of the overlay's build/ by path and
        // followed links on it. The caller, who owns upper/, made upper/build a link to a folder of
        // root's after the engine's checks (while it logs the nspawn command line): the folder was bound
        // writable at /build, and the command wrote into it as root. Reached in the overlay without links
        // and handed over as a mount before the swap, /build stays the sandbox's own folder.
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("nspawnfd-writable");
        using var victim = new TemporaryFolder("nspawnfd-writable-victim");
        var victimFolder = Directory.CreateDirectory(Path.Combine(victim.Path, "root-owned")).FullName;
        SandboxInfo? sandbox = null;
        var swapped = false;
        var log = new SwapOnLogLine("systemd-nspawn", () =>
        {
            if (sandbox is null || swapped) return;
            var build = Path.Combine(sandbox.StatePath, "upper", "build");
            Directory.Move(build, build + "-away");
            File.CreateSymbolicLink(build, victimFolder);
            // nspawn follows the link on the target too, inside the root: the same path there, for the bind to land on.
            Directory.CreateDirectory(Path.Combine(sandbox.StatePath, "upper") + victimFolder);
            swapped = true;
        });
        var engine = new SandboxEngine(busybox.Engine.Layout, log);
        sandbox = engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.Nspawn, ReadOnlyRoot = true, WritablePaths = new[] { "/build" },
        });
        try
        {
            var outcome = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo written > /build/marker" }, Timeout = TimeSpan.FromSeconds(120) });

            Assert.True(swapped, "the command line was not logged: the swap never happened");
            Assert.Empty(Directory.GetFileSystemEntries(victimFolder));
            Assert.Equal(0, outcome.ExitCode);
            Assert.True(File.Exists(Path.Combine(sandbox.StatePath, "upper", "build-away", "marker")), "the command did not write into the sandbox's own /build");
        }
        finally
        {
            engine.RemoveSandbox(sandbox);
        }
        Assert.Empty(Directory.GetFileSystemEntries(victimFolder));
    }

    [SkippableFact]
    public void Commands_still_run_in_the_overlay_and_its_writable_paths_holding_none_of_its_folders()
    {
        Skip.If(Environment.UserName != "root", "systemd-nspawn needs root; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("nspawnfd-works");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.Nspawn, ReadOnlyRoot = true, WritablePaths = new[] { "/build" },
        });
        try
        {
            var write = engine.Invoke(sandbox, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", "echo kept > /build/marker; echo x > /marker; ls /proc/self/fd" }, Timeout = TimeSpan.FromSeconds(120),
            });
            var read = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/build/marker" }, Timeout = TimeSpan.FromSeconds(120) });

            Assert.Equal(0, read.ExitCode);
            Assert.Equal("kept\n", read.StdOut);
            Assert.Contains("Read-only", write.StdErr, StringComparison.OrdinalIgnoreCase);
            // The launcher's held layers never reach the command: a descriptor of a store folder would lead out of the container.
            Assert.Equal(new[] { "0", "1", "2", "3" }, write.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        }
        finally
        {
            engine.RemoveSandbox(sandbox);
        }
    }

    private static SandboxInfo NewSandbox(SandboxEngine engine) =>
        engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Nspawn });

    /// <summary>The caller's folder to swap in: the sandbox's record, and layer folders of root's the overlay would use.</summary>
    private static void PlantStateFolder(SandboxInfo sandbox, string folder)
    {
        File.Copy(Path.Combine(sandbox.StatePath, "state.json"), Path.Combine(folder, "state.json"), overwrite: true);
        foreach (var name in new[] { "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(folder, name));
    }

    /// <summary>The sandbox's own state folder back in place of the caller's link, for the store's removal.</summary>
    private static void PutBack(string state)
    {
        if (new FileInfo(state).LinkTarget is not null) File.Delete(state);
        if (Directory.Exists(state + ".away")) Directory.Move(state + ".away", state);
    }
}
