using Sandbox.Native;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Storage;

/// <summary>
/// The one way host-side code reads a file of a sandbox or image: whatever is in there may have been
/// planted by the sandbox (a link to a host file, /dev/zero, a FIFO, a 10 GB file). Every lookup
/// is openat2 relative to the root's folder with RESOLVE_IN_ROOT (links resolve inside the root,
/// never on the host) and RESOLVE_NO_MAGICLINKS (no /proc/self/fd tricks), the final component is
/// never followed, opens are non-blocking, only a regular file (fstat) is read, and never more than
/// the caller's bound.
/// A root is one folder (a FakeChroot copy) or an overlay's layers, topmost first: a whiteout or a
/// non-folder in an upper layer hides what the lower ones have at that path, and a layer is not
/// looked at under a folder that a layer above hides or marks opaque (the path's folders taken as
/// written, see <see cref="TreeLookupStack"/>), so a file a derived image deleted or replaced is
/// not read from its parent's layer.
/// Each public call opens the layers' folders once (<see cref="TreeLookupStack"/>: beneath the store
/// root in a store, never through a link the store's owner swapped in, see <see cref="LayerFolder"/>)
/// and every lookup of that call starts from those descriptors, never from a layer's path again.
/// </summary>
internal sealed class SandboxRootReader
{
    private readonly string[] _layers;

    /// <param name="layers">The root's folders on the host, topmost first.</param>
    public SandboxRootReader(params string[] layers) => _layers = layers;

    private const ulong Confined = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

    /// <summary>The contents of a regular file, or null if the sandbox has no such path.</summary>
    /// <exception cref="SandboxException">UnsafeSandboxFile: a link, device, FIFO, socket or folder, or over <paramref name="maxBytes"/>.</exception>
    public byte[]? ReadFile(string pathInSandbox, int maxBytes)
    {
        using var layers = TreeLookupStack.Open(_layers);
        var relative = WithFoldersResolved(layers, Relative(pathInSandbox), pathInSandbox);
        foreach (var layer in Reaching(layers, relative))
        {
            var (found, hidden) = Find(layers.LayerFd(layer), relative, pathInSandbox, O_PATH | O_NOFOLLOW);
            if (hidden) return null;
            if (found is not { } status) continue;
            if (!status.IsRegularFile) throw SandboxErrors.UnsafeSandboxFile(pathInSandbox, Describe(status));
            return ReadRegular(layers.LayerFd(layer), relative, pathInSandbox, maxBytes);
        }
        return null;
    }

    /// <summary>Whether the path names a regular file, following links inside the root (for a shell such as /bin/sh -> dash).</summary>
    public bool IsFile(string pathInSandbox)
    {
        // Outside the catch: a layer swapped for a link in the store is refused, not taken for "no file".
        using var layers = TreeLookupStack.Open(_layers);
        string relative;
        try { relative = WithFoldersResolved(layers, Relative(pathInSandbox), pathInSandbox); }
        catch (SandboxException) { return false; } // a link loop: not a file
        foreach (var layer in Reaching(layers, relative))
        {
            try
            {
                var (found, hidden) = Find(layers.LayerFd(layer), relative, pathInSandbox, O_PATH);
                if (hidden) return false;
                if (found is { } status) return status.IsRegularFile;
            }
            catch (SandboxException)
            {
                return false; // a link loop: not a file
            }
        }
        return false;
    }

    /// <summary>The layers that may show <paramref name="relative"/>: those no layer above hides its folder from.</summary>
    private static IEnumerable<int> Reaching(TreeLookupStack layers, string relative)
    {
        if (layers.Count == 1) return layers.LayerFd(0) >= 0 ? new[] { 0 } : Array.Empty<int>();
        var slash = relative.LastIndexOf('/');
        var folder = slash < 0 ? "" : relative[..slash];
        return Enumerable.Range(0, layers.Count).Where(index => layers.Reaches(folder, index)).ToList();
    }

    /// <summary>
    /// The target of the symbolic link at the path (as text, for the caller to resolve inside the
    /// root), or null when the topmost layer having the path has no link there. The folders on the
    /// way resolve inside the root as for every lookup here.
    /// </summary>
    public string? LinkTarget(string pathInSandbox)
    {
        using var layers = TreeLookupStack.Open(_layers);
        return LinkTarget(layers, pathInSandbox);
    }

    private static string? LinkTarget(TreeLookupStack layers, string pathInSandbox)
    {
        var relative = Relative(pathInSandbox);
        foreach (var layer in Reaching(layers, relative))
        {
            var fd = Open(layers.LayerFd(layer), relative, O_PATH | O_NOFOLLOW, Confined);
            if (fd == -ENOENT) continue;
            if (fd < 0) return null;
            try
            {
                if (StatOf(fd) is not { } status || status.IsWhiteout) return null;
                return status.IsSymbolicLink ? OpenAt2.LinkTarget(fd, "") : null;
            }
            finally { close(fd); }
        }
        return null;
    }

    /// <summary>Looks the path up in one layer: its status, or hidden when the layer masks lower ones there.</summary>
    private static (FileStatus? Status, bool Hidden) Find(int root, string relative, string shown, int flags)
    {
        var fd = Open(root, relative, flags, Confined);
        if (fd == -ENOENT) return (null, false);
        // A file or whiteout where a folder of the path should be hides the lower layers' path.
        if (fd == -ENOTDIR) return (null, true);
        if (fd == -ELOOP) throw SandboxErrors.UnsafeSandboxFile(shown, "a symbolic link (or a loop of them)");
        if (fd == -EXDEV) throw SandboxErrors.UnsafeSandboxFile(shown, "reached through a magic link");
        if (fd == -ENOSYS) throw SandboxErrors.UnsafeSandboxFile(shown, "unreadable safely: this kernel lacks openat2 (Linux 5.6 or newer is needed)");
        if (fd < 0) throw SandboxErrors.UnsafeSandboxFile(shown, $"unreadable ({ErrorText(-fd)})");
        try
        {
            var status = StatOf(fd) ?? throw SandboxErrors.UnsafeSandboxFile(shown, "unreadable (fstat failed)");
            return status.IsWhiteout ? (null, true) : (status, false);
        }
        finally { close(fd); }
    }

    private static unsafe byte[] ReadRegular(int root, string relative, string shown, int maxBytes)
    {
        // Opened again to read: the sandbox may have swapped the file meanwhile, so check again
        // what was opened. O_NONBLOCK: a FIFO swapped in never blocks us.
        var fd = Open(root, relative, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, Confined);
        if (fd < 0) throw SandboxErrors.UnsafeSandboxFile(shown, $"unreadable ({ErrorText(-fd)})");
        try
        {
            if (StatOf(fd) is not { IsRegularFile: true } status)
                throw SandboxErrors.UnsafeSandboxFile(shown, "not a regular file");
            if (status.Size > (ulong)maxBytes) throw SandboxErrors.UnsafeSandboxFile(shown, $"larger than {maxBytes} bytes");
            using var content = new MemoryStream();
            var buffer = new byte[64 * 1024];
            fixed (byte* p = buffer)
            {
                while (true)
                {
                    var n = read(fd, p, (nuint)buffer.Length);
                    if (n < 0)
                    {
                        var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                        if (errno == 4) continue;
                        throw SandboxErrors.UnsafeSandboxFile(shown, $"unreadable ({ErrorText(errno)})");
                    }
                    if (n == 0) break;
                    // The size may grow while we read (a process of the sandbox writing to it).
                    if (content.Length + n > maxBytes) throw SandboxErrors.UnsafeSandboxFile(shown, $"larger than {maxBytes} bytes");
                    content.Write(buffer, 0, (int)n);
                }
            }
            return content.ToArray();
        }
        finally { close(fd); }
    }

    /// <summary>Links one path may pass through before it counts as a loop (the kernel's own limit).</summary>
    private const int MaxFolderLinks = 40;

    /// <summary>
    /// The path with every folder on the way that is a link in the merged view (`/etc -> /oldetc` made
    /// in the sandbox's layer) replaced by its target, read as text and resolved inside the root, as
    /// the kernel resolves it over the whole stack. Each layer is then looked up along real folders:
    /// resolving the link inside one layer alone would miss a target another layer holds, and the
    /// stack rules would take the link for a file hiding the folder.
    /// </summary>
    private static string WithFoldersResolved(TreeLookupStack layers, string relative, string shown)
    {
        if (relative == ".") return relative;
        for (var followed = 0; followed <= MaxFolderLinks; followed++)
        {
            var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string? replaced = null;
            for (var i = 0; i < parts.Length - 1 && replaced is null; i++)
            {
                if (LinkTarget(layers, "/" + string.Join('/', parts[..(i + 1)])) is not { } target) continue;
                var from = target.StartsWith('/') ? "" : string.Join('/', parts[..i]);
                replaced = Normalised(from + "/" + target + "/" + string.Join('/', parts[(i + 1)..]));
            }
            if (replaced is null) return relative;
            relative = replaced;
        }
        throw SandboxErrors.UnsafeSandboxFile(shown, "a symbolic link (or a loop of them)");
    }

    /// <summary>A relative path with `.` and `..` taken out, `..` never climbing above the root (as RESOLVE_IN_ROOT).</summary>
    private static string Normalised(string path)
    {
        var kept = new List<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (kept.Count > 0) kept.RemoveAt(kept.Count - 1); continue; }
            kept.Add(part);
        }
        return kept.Count == 0 ? "." : string.Join('/', kept);
    }

    private static string Relative(string pathInSandbox)
    {
        if (!pathInSandbox.StartsWith('/')) throw SandboxErrors.InvalidPath("The sandbox path", pathInSandbox, "it must be absolute inside the sandbox.");
        var relative = pathInSandbox.TrimStart('/');
        return relative.Length == 0 ? "." : relative;
    }

    private static string Describe(FileStatus status) => (status.Mode & 0xF000) switch
    {
        0xA000 => "a symbolic link",
        0x4000 => "a folder",
        0x1000 => "a FIFO",
        0xC000 => "a socket",
        0x2000 => "a character device",
        0x6000 => "a block device",
        _ => "not a regular file",
    };
}
