using System.Globalization;
using Sandbox.Processes;
using Sandbox.Providers;
using Sandbox.Storage;

namespace Sandbox.Images;

/// <summary>
/// Where a root build's builder (mmdebstrap, debootstrap) runs: as the first process of a pid
/// namespace of its own, with a private mount namespace in which the held staging folder is mounted
/// on <see cref="BuildMountPoint.Path"/>, the only path the builder is given. The engine clones the
/// held folder as a detached bind mount (open_tree, <see cref="HeldStagingFolder.CloneDetached"/>)
/// and passes it as a descriptor; the launcher moves it into place
/// (<c>mount --no-canonicalize --move /proc/self/fd/N</c>), closes it and execs the builder.
/// <para>Why: the builders resolve their target by path as root (mmdebstrap's abs_path, debootstrap's
/// mounts of $TARGET/proc, /sys, /dev/pts...), and they ran in the host's mount namespace with the held
/// folder's /proc/ENGINEPID/fd/N name: their mounts were the host's, left behind when a build died, and
/// a builder that outlived a killed engine kept a name that a reused pid could give another folder.
/// Here every mount the builder makes is in its namespace and goes with it, and its path is root's.</para>
/// <para>Why it dies with the engine: setpriv --pdeathsig KILL on unshare, whose death kills its child
/// (--kill-child), the pid namespace's first process; the kernel then kills everything else in that pid
/// namespace (apt, dpkg, maintainer scripts: the builder's whole tree, whatever process group they
/// took), and the mount namespace, its last process gone, unmounts itself.</para>
/// </summary>
internal sealed class BuildNamespace : IDisposable
{
    private readonly string _stagingPath;
    private int _tree;

    private BuildNamespace(string stagingPath, int tree)
    {
        _stagingPath = stagingPath;
        _tree = tree;
    }

    /// <summary>The staging folder cloned for the builder's namespace; the mount point made when missing.</summary>
    public static BuildNamespace Of(HeldStagingFolder staging)
    {
        BuildMountPoint.Ensure();
        return new BuildNamespace(staging.Path, staging.CloneDetached());
    }

    /// <summary>
    /// The name the builder knows <paramref name="enginePath"/> by (a path in the staging folder as
    /// this process names it, <see cref="HeldStagingFolder.Path"/>): the same place below the mount point.
    /// </summary>
    public string BuilderPath(string enginePath)
    {
        if (enginePath == _stagingPath) return BuildMountPoint.Path;
        if (!enginePath.StartsWith(_stagingPath + "/", StringComparison.Ordinal))
            throw new ArgumentException($"'{enginePath}' is not in the staging folder {_stagingPath}.", nameof(enginePath));
        return BuildMountPoint.Path + enginePath[_stagingPath.Length..];
    }

    /// <summary>
    /// <paramref name="builder"/>'s command line behind the launcher, and the descriptor it is spawned
    /// holding; both stay valid until this is disposed.
    /// </summary>
    public (IReadOnlyList<string> Argv, PassedDescriptors Passed) Launch(IReadOnlyList<string> builder)
    {
        var passed = new PassedDescriptors();
        var tree = passed.Pass(_tree >= 0 ? _tree : throw new ObjectDisposedException(nameof(BuildNamespace)));
        return (LauncherArgv(AbandonedFolders.DieWithUs(), ToolLocator.Require("unshare", "util-linux"),
            ToolLocator.Require("bash", "bash"), tree, builder), passed);
    }

    /// <summary>
    /// The command line as plain data: [setpriv --pdeathsig KILL --] unshare (pid namespace, private
    /// mount namespace with its /proc) bash -c MOVE sandbox-build-root /proc/self/fd/N MOUNTPOINT builder...
    /// Arguments travel as positional parameters; the descriptor's number is ours, pasted as digits
    /// (a redirection cannot take a parameter). bash, not sh: dash closes no descriptor above 9.
    /// </summary>
    internal static IReadOnlyList<string> LauncherArgv(IReadOnlyList<string> dieWithUs, string unshare, string bash, int tree, IReadOnlyList<string> builder)
    {
        var number = tree.ToString(CultureInfo.InvariantCulture);
        var script =
            $"mount --no-canonicalize --move \"$1\" \"$2\" || {{ echo \"{OverlayLauncher.SetupMarker} could not mount the build's folder on $2\" >&2; exit {OverlayLauncher.SetupExitCode}; }}; " +
            // A clone of a folder on a shared mount (systemd makes / shared) is a peer of the host's mount:
            // without this, the builder's mounts of $TARGET/proc and the like would appear on the host too,
            // and outlive a killed build (the namespace's end does not unmount its peers' copies).
            $"mount --make-private \"$2\" || {{ echo \"{OverlayLauncher.SetupMarker} could not make the build's folder private on $2\" >&2; exit {OverlayLauncher.SetupExitCode}; }}; " +
            $"exec {number}<&-; cd / && shift 2 && exec \"$@\"";
        return dieWithUs
            .Concat(new[] { unshare, "--pid", "--fork", "--kill-child=KILL", "--mount-proc", "--propagation", "private", "--" })
            .Concat(new[] { bash, "-c", script, "sandbox-build-root", Providers.CommandLines.OverlayMountCommandLine.DescriptorName(tree), BuildMountPoint.Path })
            .Concat(builder)
            .ToList();
    }

    public void Dispose()
    {
        if (_tree >= 0) Native.OpenAt2.close(_tree);
        _tree = -1;
    }
}
