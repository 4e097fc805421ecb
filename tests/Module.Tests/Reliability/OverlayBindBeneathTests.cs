using Sandbox.Storage;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Root Bubblewrap binds the sandbox's overlay, mounted on the host at merged/, as bwrap's /. Under
/// sudo the state folder is the caller's, and bwrap (root) resolved the path it was given again: the
/// caller renamed the state folder away and put a folder of their own in its place, whose merged/ led
/// to the host's / (here: a folder of root's on another file system, holding a root a command can
/// run in), and the next command ran there as root. Each test wins its race deterministically: the
/// swap comes between two engine calls (the path is resolved again for every command) or, for a
/// writable path, while the engine logs the overlay's mount (after every check of the command).
/// With the overlay held beneath the store and proven ours (HeldOverlayRoot) and bwrap given its
/// descriptor (--bind-fd), each command is refused and the host folder stays untouched.
/// </summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class OverlayBindBeneathTests
{
    private static readonly SandboxCommand WriteMarker = new() { Argv = new[] { "sh", "-c", "echo written > /marker" } };

    [SkippableFact]
    public void A_state_folder_swapped_for_a_link_to_a_folder_with_a_mount_at_merged_runs_no_command_there()
    {
        // The link leads to a host folder whose merged/ is a mount point: another user's sandbox, a
        // container's root (Docker's overlay2/<id>/merged). merged/ itself is no link, so it looked mounted.
        Skip.If(Environment.UserName != "root", "root Bubblewrap and a tmpfs; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("bindfd-state-link");
        using var victim = new TemporaryFolder("bindfd-state-link-victim");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var hostRoot = Path.Combine(victim.Path, "merged");
        try
        {
            Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "true" } }).ExitCode); // mounts the overlay
            MountHostRoot(victim.Path, "merged");
            File.Copy(Path.Combine(sandbox.StatePath, "state.json"), Path.Combine(victim.Path, "state.json"));
            Directory.Move(sandbox.StatePath, sandbox.StatePath + ".away");
            File.CreateSymbolicLink(sandbox.StatePath, victim.Path);

            // By path the command ran there, as root, and only recording it afterwards failed (an IOException).
            var error = Record.Exception(() => engine.Invoke(sandbox, WriteMarker));

            Assert.False(File.Exists(Path.Combine(hostRoot, "marker")), "the command ran in the host's mount the link led to");
            Assert.Equal("StoreEntryUnsafe", Assert.IsType<SandboxException>(error).ErrorId);
        }
        finally
        {
            DetachMountsUnder(victim.Path, busybox.Root);
        }
    }

    [SkippableFact]
    public void A_state_folder_swapped_for_one_with_another_file_system_mounted_at_merged_runs_no_command_there()
    {
        // No link at all: merged/ is a real folder with something else mounted on it (the caller can
        // mount FUSE file systems in their own folders). Only the mount check tells it from our overlay.
        Skip.If(Environment.UserName != "root", "root Bubblewrap and a tmpfs; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("bindfd-merged-mount");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions { Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap });
        var merged = Path.Combine(sandbox.StatePath, "merged");
        try
        {
            Assert.Equal(0, engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "true" } }).ExitCode); // mounts the overlay
            SwapStateFolder(sandbox, folder => MountHostRoot(Path.GetDirectoryName(folder)!, Path.GetFileName(folder)));

            var error = Assert.Throws<SandboxException>(() => engine.Invoke(sandbox, WriteMarker));

            Assert.Equal("OverlayRootUnsafe", error.ErrorId);
            Assert.Contains("tmpfs", error.Message);
            Assert.False(File.Exists(Path.Combine(merged, "marker")), "the command ran in the file system mounted at merged/");
        }
        finally
        {
            DetachMountsUnder(busybox.Root);
        }
    }

    [SkippableFact]
    public void A_writable_path_swapped_for_a_link_after_the_checks_binds_no_host_folder()
    {
        // -ReadOnlyRoot -WritablePath /build bound merged/build by path: the caller, who owns upper/, made
        // upper/build a link to a folder of root's after the engine checked it (here while the engine logs
        // the overlay's mount), and bwrap (root) resolved the source through it on the host. bwrap 0.8
        // then resolved the target through the same link in its own scratch root and failed ("Can't
        // bind mount ... No such file or directory"): no host folder reached the command, by luck of
        // bwrap's order. Held beneath the overlay without links, the link is refused before bwrap runs.
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("bindfd-writable");
        using var victim = new TemporaryFolder("bindfd-writable-victim");
        var victimFolder = Directory.CreateDirectory(Path.Combine(victim.Path, "root-owned")).FullName;
        SandboxInfo? sandbox = null;
        var swapped = false;
        var log = new SwapOnLogLine("mount -t overlay", () =>
        {
            if (sandbox is null || swapped) return;
            var upper = Path.Combine(sandbox.StatePath, "upper");
            var build = Path.Combine(upper, "build");
            Directory.Move(build, build + "-away");
            File.CreateSymbolicLink(build, victimFolder);
            // bwrap follows the link on the target too: the same path in the sandbox, for the bind to land on.
            Directory.CreateDirectory(upper + victimFolder);
            swapped = true;
        });
        var engine = new SandboxEngine(busybox.Engine.Layout, log);
        sandbox = engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap, ReadOnlyRoot = true, WritablePaths = new[] { "/build" },
        });
        try
        {
            var error = Assert.Throws<SandboxException>(() => engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo written > /build/marker" } }));

            Assert.True(swapped, "the overlay was not mounted by this command: the swap never happened");
            Assert.Equal("WritablePathSubverted", error.ErrorId);
            Assert.Contains("/build", error.Message);
            Assert.Empty(Directory.GetFileSystemEntries(victimFolder));
        }
        finally
        {
            DetachMountsUnder(busybox.Root);
        }
        Assert.Empty(Directory.GetFileSystemEntries(victimFolder));
    }

    [SkippableFact]
    public void Commands_of_a_root_sandbox_still_run_in_its_overlay_and_its_writable_paths()
    {
        // The same calls on a store nobody swapped: the refusals above are not all the held overlay does.
        Skip.If(Environment.UserName != "root", "root Bubblewrap; run the tests as root (CI does).");
        using var busybox = new BusyboxStore("bindfd-works");
        var engine = busybox.Engine;
        var sandbox = engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = HarnessFixture.ImageName, Provider = ProviderName.Bubblewrap, ReadOnlyRoot = true, WritablePaths = new[] { "/build" },
        });
        try
        {
            var write = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sh", "-c", "echo kept > /build/marker; echo x > /marker; ls /proc/self/fd" } });
            var read = engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "cat", "/build/marker" } });

            Assert.Equal(0, read.ExitCode);
            Assert.Equal("kept\n", read.StdOut);
            Assert.Contains("Read-only", write.StdErr, StringComparison.OrdinalIgnoreCase);
            // bwrap closes the descriptors it bound: the command holds none of the host's overlay.
            Assert.Equal(new[] { "0", "1", "2", "3" }, write.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        }
        finally
        {
            engine.RemoveSandbox(sandbox);
        }
    }

    /// <summary>
    /// The caller's move: the state folder renamed away (its overlay stays mounted there) and a folder of
    /// their own put in its place, with the record and layer folders copied and merged/ made by <paramref name="plantMerged"/>.
    /// </summary>
    private static void SwapStateFolder(SandboxInfo sandbox, Action<string> plantMerged)
    {
        var state = sandbox.StatePath;
        Directory.Move(state, state + ".away");
        Directory.CreateDirectory(state);
        File.Copy(Path.Combine(state + ".away", "state.json"), Path.Combine(state, "state.json"));
        foreach (var folder in new[] { "upper", "work" }) Directory.CreateDirectory(Path.Combine(state, folder));
        plantMerged(Path.Combine(state, "merged"));
    }

    /// <summary>A tmpfs (another device than the store, as / is) at <paramref name="parent"/>/<paramref name="name"/> holding a busybox root.</summary>
    private static string MountHostRoot(string parent, string name = "host-root")
    {
        var root = Directory.CreateDirectory(Path.Combine(parent, name)).FullName;
        RunAsRoot.Command("mount", "-t", "tmpfs", "-o", "size=8m", "bindfd-victim", root);
        BusyboxTree.Create(root);
        return root;
    }

    private static void DetachMountsUnder(params string[] folders)
    {
        foreach (var folder in folders)
            foreach (var left in MountTable.Under(MountTable.Read(), folder)) Native.LibC.umount2(left.Point, Native.LibC.MNT_DETACH);
    }
}
