using Sandbox.Storage;
using Sandbox.Namespaces;
using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// A sandbox's copy-on-write layer for kernel overlayfs: <c>upper/</c> holds what the sandbox wrote,
/// <c>work/</c> is overlayfs's scratch folder, <c>merged/</c> the mount point of the combined view.
/// The image is only ever the lower layer, so nothing a sandbox does can reach it.
/// </summary>
public sealed class OverlayLayer
{
    public OverlayLayer(string stateFolder, string lowerFolder)
    {
        Upper = Path.Combine(stateFolder, "upper");
        Work = Path.Combine(stateFolder, "work");
        Merged = Path.Combine(stateFolder, "merged");
        Lower = lowerFolder;
    }

    public string Upper { get; }
    public string Work { get; }
    public string Merged { get; }
    public string Lower { get; }

    public static OverlayLayer Of(SandboxInfo sandbox) => new(sandbox.StatePath, sandbox.ImageRootFs);

    public void Create()
    {
        Directory.CreateDirectory(Upper);
        Directory.CreateDirectory(Work);
        Directory.CreateDirectory(Merged);
    }

    /// <summary>
    /// The mount options. In a user namespace overlayfs keeps its metadata in user.* xattrs
    /// (userxattr, kernel 5.11 and newer) because trusted.* needs real root.
    /// </summary>
    public string MountOptions(bool inUserNamespace) =>
        $"lowerdir={Lower},upperdir={Upper},workdir={Work}" + (inUserNamespace ? ",userxattr" : "");

    /// <summary>
    /// Mounts the overlay on the host at <see cref="Merged"/> unless it already is (root only). The
    /// caller holds the sandbox's lock, so two commands never mount it twice.
    /// </summary>
    public void EnsureMountedOnHost(string sandboxName, IEngineLog log)
    {
        if (IsMounted) return;
        // mount(2) directly; logged as the equivalent command line.
        log.Verbose(Processes.ShellQuote.Join(new[] { "mount", "-t", "overlay", "sandbox-overlay", "-o", MountOptions(false), Merged }));
        if (LibC.mount("sandbox-overlay", Merged, "overlay", 0, MountOptions(inUserNamespace: false)) != 0)
            throw SandboxErrors.SetupFailed("Bubblewrap", sandboxName,
                $"mounting the overlay on {Merged} failed: {LibC.ErrorText(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
    }

    /// <summary>A mount point sits on another device than the folder it is in.</summary>
    public bool IsMounted =>
        FileStatus.Of(Merged) is { } merged && FileStatus.Of(Path.GetDirectoryName(Merged)!) is { } parent
        && (merged.DeviceMajor, merged.DeviceMinor) != (parent.DeviceMajor, parent.DeviceMinor);

    public void UnmountFromHost()
    {
        if (IsMounted) LibC.umount2(Merged, LibC.MNT_DETACH);
    }

    /// <summary>
    /// The sandbox's files as the host may read them without mounting: the upper layer over the
    /// image, every lookup confined to the layer it is made in (see <see cref="SandboxRootReader"/>).
    /// There is deliberately no way to get a host path of a sandbox file: code given one would follow
    /// whatever links the sandbox planted on it.
    /// </summary>
    public SandboxRootReader Reader => new(Upper, Lower);

    /// <summary>
    /// One walk of the upper layer: the bytes it occupies on disk, and every file the sandbox added,
    /// modified or deleted relative to the image.
    /// </summary>
    public LayerMeasurement Measure(string sandboxName)
    {
        long bytes = 0;
        var changes = new List<SandboxChange>();
        foreach (var (relative, status) in TreeWalker.Walk(Upper))
        {
            bytes += (long)(status.Blocks * 512);
            var inImage = FileStatus.Of(Path.Combine(Lower, relative));
            if (status.IsWhiteout)
                changes.Add(new SandboxChange(sandboxName, "/" + relative, SandboxChangeKind.Deleted, 0));
            else if (inImage is null)
                changes.Add(new SandboxChange(sandboxName, "/" + relative, SandboxChangeKind.Added, (long)status.Size));
            else if (!status.IsDirectory)
                changes.Add(new SandboxChange(sandboxName, "/" + relative, SandboxChangeKind.Modified, (long)status.Size));
        }
        return new LayerMeasurement(bytes, changes);
    }
}
