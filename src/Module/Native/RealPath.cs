using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>realpath(3): a path with every link on it resolved, as the kernel would resolve it now.</summary>
internal static unsafe partial class RealPath
{
    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial byte* realpath(string path, byte* resolved);

    [LibraryImport("libc")]
    private static partial void free(byte* pointer);

    /// <summary>The resolved path, or null if some part of it does not exist.</summary>
    public static string? Of(string path)
    {
        var resolved = realpath(path, null);
        if (resolved == null) return null;
        try { return Marshal.PtrToStringUTF8((nint)resolved); }
        finally { free(resolved); }
    }
}
