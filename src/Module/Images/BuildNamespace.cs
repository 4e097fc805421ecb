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
/// <para>In memory (<see cref="BuildMemory"/>): the launcher mounts a tmpfs of that size on the
/// builder's target folder, runs the builder there (in a pid namespace of its own, see
/// <see cref="InMemoryScript"/>), and copies the finished tree onto the folder beneath the tmpfs,
/// which it holds by a descriptor the builder cannot reach. The tmpfs goes with the namespace,
/// whatever becomes of the build; a tree is on the disk only once the builder succeeded.</para>
/// </summary>
internal sealed class BuildNamespace : IDisposable
{
    private readonly HeldStagingFolder _staging;
    private readonly string _stagingPath;
    private int _tree = -1;
    private bool _disposed;

    private BuildNamespace(HeldStagingFolder staging)
    {
        _staging = staging;
        _stagingPath = staging.Path;
    }

    /// <summary>The staging folder, cloned for each launch of a builder; the mount point made when missing.</summary>
    public static BuildNamespace Of(HeldStagingFolder staging)
    {
        BuildMountPoint.Ensure();
        return new BuildNamespace(staging);
    }

    /// <summary>
    /// Where the builder writes in memory: its target folder (a path in the staging folder, made empty)
    /// and the tmpfs size; null (the default, and after <see cref="LeaveMemory"/>) writes to the disk.
    /// </summary>
    public (string Target, long Bytes)? InMemory => _memory is { } held ? (held.Target, held.Reservation.Bytes) : null;

    private (string Target, BuildMemory.Reservation Reservation)? _memory;

    /// <summary>Launches from now on write <paramref name="target"/> in memory, the size <paramref name="reservation"/> holds (disposed with this).</summary>
    public void UseMemory(string target, BuildMemory.Reservation reservation)
    {
        LeaveMemory();
        _memory = (target, reservation);
    }

    /// <summary>Launches from now on write to the disk; the reservation goes back.</summary>
    public void LeaveMemory()
    {
        _memory?.Reservation.Dispose();
        _memory = null;
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
    /// holding; both stay valid until the next launch or until this is disposed.
    /// </summary>
    public (IReadOnlyList<string> Argv, PassedDescriptors Passed) Launch(IReadOnlyList<string> builder)
    {
        var passed = new PassedDescriptors();
        ObjectDisposedException.ThrowIf(_disposed, this);
        // A detached clone is attached by the first launcher's move, and goes with that namespace: each launch gets its own.
        CloseClone();
        _tree = _staging.CloneDetached();
        var tree = passed.Pass(_tree);
        var memory = InMemory is { } place ? (BuilderPath(place.Target), place.Bytes) : ((string, long)?)null;
        return (LauncherArgv(AbandonedFolders.DieWithUs(), ToolLocator.Require("unshare", "util-linux"),
            ToolLocator.Require("bash", "bash"), tree, builder, memory), passed);
    }

    /// <summary>
    /// The command line as plain data: [setpriv --pdeathsig KILL --] unshare (pid namespace, private
    /// mount namespace with its /proc) bash -c MOVE sandbox-build-root /proc/self/fd/N MOUNTPOINT builder...
    /// Arguments travel as positional parameters; the descriptor's number is ours, pasted as digits
    /// (a redirection cannot take a parameter). bash, not sh: dash closes no descriptor above 9.
    /// In memory (<paramref name="memory"/>: the target's path as the builder knows it, the tmpfs size)
    /// the target and size follow the mount point, and the script runs the builder as its child.
    /// </summary>
    internal static IReadOnlyList<string> LauncherArgv(IReadOnlyList<string> dieWithUs, string unshare, string bash, int tree,
        IReadOnlyList<string> builder, (string Target, long Bytes)? memory = null)
    {
        var number = tree.ToString(CultureInfo.InvariantCulture);
        var script =
            $"mount --no-canonicalize --move \"$1\" \"$2\" || {{ echo \"{OverlayLauncher.SetupMarker} could not mount the build's folder on $2\" >&2; exit {OverlayLauncher.SetupExitCode}; }}; " +
            // A clone of a folder on a shared mount (systemd makes / shared) is a peer of the host's mount:
            // without this, the builder's mounts of $TARGET/proc and the like would appear on the host too,
            // and outlive a killed build (the namespace's end does not unmount its peers' copies).
            $"mount --make-private \"$2\" || {{ echo \"{OverlayLauncher.SetupMarker} could not make the build's folder private on $2\" >&2; exit {OverlayLauncher.SetupExitCode}; }}; " +
            $"exec {number}<&-; cd / && " + (memory is null ? "shift 2 && exec \"$@\"" : InMemoryScript);
        var parameters = new List<string> { "sandbox-build-root", Providers.CommandLines.OverlayMountCommandLine.DescriptorName(tree), BuildMountPoint.Path };
        if (memory is { } place) parameters.AddRange(new[] { place.Target, place.Bytes.ToString(CultureInfo.InvariantCulture), unshare, bash });
        return dieWithUs
            .Concat(new[] { unshare, "--pid", "--fork", "--kill-child=KILL", "--mount-proc", "--propagation", "private", "--" })
            .Concat(new[] { bash, "-c", script })
            .Concat(parameters)
            .Concat(builder)
            .ToList();
    }

    /// <summary>
    /// The in-memory part of the script ($3 the target, $4 the tmpfs size, $5 unshare, $6 bash). Descriptor 9
    /// holds the target's folder on the disk beneath the tmpfs, for the copy. The builder runs as the
    /// first process of a pid namespace of its own, with its own /proc: when it exits the kernel kills
    /// whatever it left running (a daemon a maintainer script started would go on writing in the tree
    /// during the copy), and its /proc shows neither this script nor its descriptor 9 (no protection
    /// from the builder, which is root and could unmount that /proc: what a chroot escape of a root
    /// maintainer script could reach it reached before, as the pid namespace's first process). With less than 16 MiB or 1000 inodes free afterwards,
    /// or the builder killed (the memory cgroup's OOM), the tree outgrew its memory, whatever the
    /// builder's status (a maintainer script's "|| true" swallows a failed write): reported, and the
    /// build runs again on the disk, as when the tmpfs cannot be mounted. The copy keeps owners, modes
    /// and ACLs, times, hard links and every xattr (file capabilities), named one by one so that one
    /// it cannot keep fails it (cp -a would drop it and succeed: a store on a file system without them
    /// then builds on the disk, where the maintainer scripts see that themselves), and stays on the tmpfs
    /// (--one-file-system: a mount the builder left in the tree is not copied through). A copy that
    /// fails is deleted from the target (find -delete follows no link) before the build goes back to the disk.
    /// </summary>
    private static readonly string InMemoryScript =
        "target=\"$3\"; size=\"$4\"; unshare=\"$5\"; bash=\"$6\"; shift 6; " +
        $"exec 9<\"$target\" || {{ echo \"{OverlayLauncher.SetupMarker} could not open the build's target $target\" >&2; exit {OverlayLauncher.SetupExitCode}; }}; " +
        $"mount -t tmpfs -o \"size=$size,mode=0755\" sandbox-build \"$target\" || {{ echo \"{BuildMemory.FallbackMarker} no tmpfs could be mounted on $target\" >&2; exit {BuildMemory.FallbackExitCode}; }}; " +
        // The nested pid 1 is a bash that waits for the builder and exits with its status, 137 when it was
        // killed: util-linux before 2.40 exits 1 when its child dies of SIGKILL.
        "\"$unshare\" --pid --fork --kill-child=KILL --mount-proc -- \"$bash\" -c '\"$@\"; exit $?' sandbox-builder \"$@\" 9<&-; status=$?; " +
        "set -- $(stat -f -c '%a %S %d' \"$target\" || echo 0 0 0); " +
        $"if [ $(( $1 * $2 )) -lt 16777216 ] || [ \"$3\" -lt 1000 ] || [ $status -eq 137 ]; then echo \"{BuildMemory.FallbackMarker} the build outgrew its memory ($size bytes)\" >&2; exit {BuildMemory.FallbackExitCode}; fi; " +
        "[ $status -eq 0 ] || exit $status; " +
        "cp -dR --preserve=mode,ownership,timestamps,links,xattr --one-file-system -- \"$target/.\" /proc/self/fd/9/ || " +
        $"{{ find /proc/self/fd/9/ -mindepth 1 -delete; echo \"{BuildMemory.FallbackMarker} the tree could not be copied from memory to the disk as it is\" >&2; exit {BuildMemory.FallbackExitCode}; }}";

    public void Dispose()
    {
        _disposed = true;
        LeaveMemory();
        CloseClone();
    }

    private void CloseClone()
    {
        if (_tree >= 0) Native.OpenAt2.close(_tree);
        _tree = -1;
    }
}
