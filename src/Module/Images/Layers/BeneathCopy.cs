using Sandbox.Native;

namespace Sandbox.Images.Layers;

/// <summary>
/// A FakeChroot copy's folder, opened once, whose entries are reached beneath it without following
/// any link on the way (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS): the sandbox may still be
/// running while it is committed, and a folder of the copy swapped for a link must not lead the
/// commit out of the copy.
/// </summary>
internal sealed class BeneathCopy : IDisposable
{
    private readonly int _root;

    private BeneathCopy(int root) => _root = root;

    public static BeneathCopy Open(string folder)
    {
        var fd = OpenAt2.OpenRoot(folder);
        if (fd < 0) throw new IOException($"opening {folder}: {LibC.ErrorText(-fd)}");
        return new BeneathCopy(fd);
    }

    /// <summary>The target of the link at <paramref name="relative"/>; null if it is not a link, or its folder is reached only through one.</summary>
    public string? LinkTarget(string relative)
    {
        var slash = relative.LastIndexOf('/');
        if (slash < 0) return OpenAt2.LinkTarget(_root, relative);
        var folder = OpenAt2.Open(_root, relative[..slash], OpenAt2.O_PATH | OpenAt2.O_DIRECTORY,
            OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS);
        if (folder < 0) return null;
        try { return OpenAt2.LinkTarget(folder, relative[(slash + 1)..]); }
        finally { OpenAt2.close(folder); }
    }

    public void Dispose() => OpenAt2.close(_root);
}
