using Sandbox.Native;
using Sandbox.Providers;
using Sandbox.Storage;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Sandboxes;

/// <summary>
/// Makes and checks the writable paths of a -ReadOnlyRoot sandbox in its layer, from the host. Each
/// is bound by the backend from a host-side path (merged/PATH; bwrap realpaths its sources, nspawn
/// follows links on them), so every part of it must be a real folder in the sandbox's view: a link
/// there (say /build -> / in the image) would bind a host folder writable. Looked up one name at a
/// time, never following anything (openat2 RESOLVE_NO_SYMLINKS), in the upper layer over the image.
/// A missing path is made in the upper layer at Enter-Sandbox, with its missing parents copying the
/// image's mode (and, as root, owner): never on the host, never in the image.
/// Why a check before each command is enough: under a read-only root nothing the sandbox runs can
/// change the parents of a writable path (they lie outside every writable mount, as no writable path
/// may be inside another or inside a bind), and the path itself is a mount point it cannot rename.
/// </summary>
internal static class WritablePathLayer
{
    private const ulong NoLinks = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    private const uint NewFolderMode = 0b111_101_101; // 0755, root's inside the sandbox
    private const uint NewFileMode = 0b110_100_100;

    /// <summary>
    /// Writable path <paramref name="path"/> held (O_PATH) in the mounted overlay whose root is
    /// <paramref name="overlayRoot"/>, reached without a link, for a backend to bind by descriptor.
    /// Throws WritablePathSubverted when it cannot be.
    /// </summary>
    public static int Hold(int overlayRoot, string path, string provider, string sandboxName)
    {
        var fd = Open(overlayRoot, path.TrimStart('/'), O_PATH | O_DIRECTORY | O_NOFOLLOW, NoLinks);
        return fd >= 0 ? fd
            : throw SandboxErrors.WritablePathSubverted(provider, sandboxName, path,
                $"it cannot be reached in the overlay as a folder without a link ({ErrorText(-fd)}).");
    }

    /// <summary>
    /// At Enter-Sandbox, before any command: each writable path is a folder of the sandbox's view,
    /// made if missing; so is each -Bind target outside another bind, /run and the kernel's file
    /// systems (an empty file for a file bind), because nspawn makes missing targets only after it
    /// made the root read-only, and fails.
    /// </summary>
    public static void Prepare(SandboxInfo sandbox, OverlayLayer layer)
    {
        foreach (var path in sandbox.WritablePaths)
            if (Walk(layer, path, create: true, fileLeaf: false) is { } problem)
                throw SandboxErrors.WritablePathSubverted(sandbox.Provider, sandbox.Name, path, problem);
        // nspawn mounts its own /dev, /proc, /sys and /run, and cannot make their folders in a read-only root.
        if (sandbox.Provider == nameof(ProviderName.Nspawn))
            foreach (var folder in NotInTheLayer)
                if (Walk(layer, folder, create: true, fileLeaf: false) is { } problem)
                    throw SandboxErrors.SetupFailed(sandbox.Provider, sandbox.Name, $"nspawn's mount point {problem}.");
        foreach (var mount in sandbox.Mounts.Where(mount => NeedsMountPoint(mount, sandbox.Mounts)))
            if (Walk(layer, mount.SandboxPath, create: true, fileLeaf: FileStatus.Of(mount.HostPath) is { IsDirectory: false }) is { } problem)
                throw SandboxErrors.BindTargetSubverted(sandbox.Provider, sandbox.Name, mount.SandboxPath, problem);
    }

    private static readonly string[] NotInTheLayer = { "/run", "/proc", "/dev", "/sys" };

    private static bool NeedsMountPoint(BindMount mount, IReadOnlyList<BindMount> all) =>
        !NotInTheLayer.Any(folder => WritablePaths.IsSameOrUnder(mount.SandboxPath, folder))
        && !all.Any(other => other != mount && other.SandboxPath != mount.SandboxPath && WritablePaths.IsSameOrUnder(mount.SandboxPath, other.SandboxPath));

    /// <summary>Before each command: each path is still a real folder, reached without a link.</summary>
    public static void Check(SandboxInfo sandbox, OverlayLayer layer)
    {
        foreach (var path in sandbox.WritablePaths)
            if (Walk(layer, path, create: false, fileLeaf: false) is { } problem)
                throw SandboxErrors.WritablePathSubverted(sandbox.Provider, sandbox.Name, path, problem);
    }

    /// <summary>Null if the path is (now) a real folder at every step in the topmost layer that has each name; else what is wrong.</summary>
    private static string? Walk(OverlayLayer layer, string path, bool create, bool fileLeaf)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        // [0] the upper layer, [1] the image; -ENOENT where a layer has nothing at this depth.
        var current = OpenLayers(layer);
        try
        {
            if (current.Any(fd => fd < 0)) return $"the sandbox's layer cannot be opened ({ErrorText(-current.Min())})";
            for (var i = 0; i < segments.Length; i++)
            {
                var shown = "/" + string.Join('/', segments[..(i + 1)]);
                var next = current.Select(fd => fd < 0 ? -ENOENT : Open(fd, segments[i], O_PATH | O_NOFOLLOW, NoLinks)).ToArray();
                try
                {
                    var top = Array.FindIndex(next, fd => fd != -ENOENT);
                    var status = top >= 0 && next[top] >= 0 ? StatOf(next[top]) : null;
                    if (top >= 0 && next[top] < 0) return $"{shown} cannot be looked up ({ErrorText(-next[top])})";
                    if (status is { IsWhiteout: true }) return $"{shown} was deleted in the sandbox";
                    if (status is { IsSymbolicLink: true })
                        return $"{shown} is a symbolic link (to {LinkTarget(current[top], segments[i]) ?? "?"}) in the {(top == 0 ? "sandbox's layer" : "image")}";
                    var last = i == segments.Length - 1;
                    if (last && fileLeaf && status is { IsRegularFile: true }) return null;
                    if (status is { IsDirectory: false }) return $"{shown} is not a {(last && fileLeaf ? "file" : "folder")}";
                    if (top < 0)
                    {
                        if (!create) return $"{shown} is missing from the sandbox";
                        return MakeMissing(layer, segments, i, fileLeaf);
                    }
                    // Go down in each layer that has a folder here.
                    for (var l = 0; l < next.Length; l++)
                    {
                        if (current[l] >= 0) close(current[l]);
                        current[l] = l >= top && next[l] >= 0 && StatOf(next[l]) is { IsDirectory: true } ? next[l] : -ENOENT;
                        if (current[l] != next[l] && next[l] >= 0) close(next[l]);
                        next[l] = -ENOENT;
                    }
                }
                finally
                {
                    foreach (var fd in next.Where(fd => fd >= 0)) close(fd);
                }
            }
            return null;
        }
        finally
        {
            foreach (var fd in current.Where(fd => fd >= 0)) close(fd);
        }
    }

    /// <summary>
    /// The upper layer's and the image's folders, reached beneath the store root without links
    /// (<see cref="LayerFolder"/>): under sudo the state folder and the layers are the caller's, who could
    /// swap one for a link to a folder of root's, where root would then look and make folders.
    /// </summary>
    private static int[] OpenLayers(OverlayLayer layer) => LayerFolder.Open(new[] { layer.Upper, layer.Lower });

    /// <summary>
    /// Makes segments[missing..] in the upper layer, first its existing parents there as overlayfs
    /// would copy them up (the image's mode and, as root, owner), so / and the parents look as before.
    /// </summary>
    private static string? MakeMissing(OverlayLayer layer, string[] segments, int missing, bool fileLeaf)
    {
        var opened = OpenLayers(layer);
        var (upper, lower) = (opened[0], opened[1]);
        try
        {
            if (upper < 0 || lower < 0) return "the sandbox's layer cannot be opened";
            for (var i = 0; i < segments.Length; i++)
            {
                var shown = "/" + string.Join('/', segments[..(i + 1)]);
                FileStatus? image = null;
                if (i < missing && lower >= 0)
                {
                    var below = Open(lower, segments[i], O_PATH | O_NOFOLLOW | O_DIRECTORY, NoLinks);
                    close(lower);
                    lower = below;
                    image = below >= 0 ? StatOf(below) : null;
                }
                if (fileLeaf && i == segments.Length - 1)
                {
                    // An empty file for a file bind to cover; O_EXCL never opens what is there already.
                    var file = Open(upper, segments[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, NoLinks, NewFileMode);
                    if (file < 0) return $"{shown} cannot be made in the sandbox's layer ({ErrorText(-file)})";
                    close(file);
                    return null;
                }
                var made = mkdirat(upper, segments[i], image is { } copy ? copy.Permissions : NewFolderMode);
                if (made != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() is var errno && errno != EEXIST)
                    return $"{shown} cannot be made in the sandbox's layer ({ErrorText(errno)})";
                // Opened for fchmod/fchown, never through a link: a name that was there already must be a folder.
                var folder = Open(upper, segments[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW, NoLinks);
                if (folder < 0) return $"{shown} in the sandbox's layer is not a folder ({ErrorText(-folder)})";
                close(upper);
                upper = folder;
                if (made != 0) continue; // already in the layer: left as it is
                fchmod(folder, image is { } mode ? mode.Permissions : NewFolderMode); // umask does not apply to chmod
                if (UserIdentity.IsRoot) fchown(folder, image?.Uid ?? 0, image?.Gid ?? 0);
            }
            return null;
        }
        finally
        {
            if (upper >= 0) close(upper);
            if (lower >= 0) close(lower);
        }
    }
}
