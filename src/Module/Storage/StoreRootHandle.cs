using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// The store root's descriptor (<see cref="StoreRootGuard.OpenRoot"/>: no link at its end, only the
/// folder the guard accepted) for a block of *at calls beneath it, closed at its end.
/// </summary>
internal readonly struct StoreRootHandle : IDisposable
{
    private StoreRootHandle(int fd) => Fd = fd;

    public int Fd { get; }

    /// <summary>Throws an IOException when there is no store root to open (StoreRootChanged when another one is there).</summary>
    public static StoreRootHandle Open(string root)
    {
        var fd = StoreRootGuard.OpenRoot(root);
        if (fd < 0) throw new IOException($"The sandbox store {root} cannot be opened: {OpenAt2.ErrorText(-fd)}.");
        return new StoreRootHandle(fd);
    }

    public void Dispose() => OpenAt2.close(Fd);
}
