namespace Sandbox.Storage;

/// <summary>
/// Tells "the store's filesystem is full" apart from other I/O failures, so a full disk becomes the
/// StoreFull error that names the store and says how to free it, never a raw IOException.
/// </summary>
internal static class StoreSpace
{
    private const int ENOSPC = 28;
    private const int EDQUOT = 122;

    /// <summary>.NET on Linux puts the errno in HResult of the IOException it raises for a failed call.</summary>
    public static bool IsOutOfSpace(Exception e) =>
        e is IOException io && (IsOutOfSpace(io.HResult) || io.Message.Contains("No space left on device", StringComparison.Ordinal));

    /// <summary>The errno of a failed call that found the filesystem (or the user's quota) full.</summary>
    public static bool IsOutOfSpace(int errno) => errno is ENOSPC or EDQUOT;

    /// <summary>Runs a write to the store, turning "no space left" into StoreFull for that store.</summary>
    public static T Write<T>(StoreLayout layout, Func<T> write)
    {
        try { return write(); }
        catch (IOException e) when (IsOutOfSpace(e)) { throw SandboxErrors.StoreFull(layout.Root, e); }
    }

    public static void Write(StoreLayout layout, Action write) => Write(layout, () => { write(); return 0; });
}
