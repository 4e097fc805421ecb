using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Storage;

namespace Sandbox.Images.Layers;

/// <summary>
/// The one layer format, whoever made the layer: whiteouts are 0/0 character devices (the same as
/// root and rootless), a replaced folder carries <c>user.overlay.opaque=y</c>, and no other overlayfs
/// attribute is kept. As root overlayfs writes its markers in trusted.overlay.* (an older version's
/// sandbox, mounted without userxattr): the opaque marker is moved to user.*, the rest (origin,
/// impure, nlink, upper) dropped; a redirect or metacopy entry means the tree is not complete on its
/// own and is refused. Works on our own staging copy, which nothing else writes, with the l* calls
/// (never through a link).
/// </summary>
internal static partial class OverlayMarkers
{
    public const string Opaque = "user.overlay.opaque";
    private static readonly string[] Prefixes = { "trusted.overlay.", "user.overlay." };
    private static readonly string[] Refused = { "redirect", "metacopy" };

    public static void Normalise(string tree, string sandboxName)
    {
        foreach (var (relative, _) in TreeWalker.Walk(tree).Prepend((".", default)))
        {
            var path = Path.Combine(tree, relative);
            foreach (var name in List(path).Where(name => Prefixes.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))))
            {
                var key = name[(name.IndexOf(".overlay.", StringComparison.Ordinal) + ".overlay.".Length)..];
                if (Refused.Contains(key)) throw SandboxErrors.LayerNotPortable(sandboxName, "/" + relative, name);
                var value = key == "opaque" ? Get(path, name) : null;
                if (name != Opaque) Remove(path, name);
                if (value == "y") Set(path, Opaque, "y");
                else if (name == Opaque && value != "y") Remove(path, name);
            }
        }
    }

    public static IReadOnlyList<string> List(string path)
    {
        var size = llistxattr(path, null, 0);
        if (size <= 0) return Array.Empty<string>();
        var buffer = new byte[size];
        size = llistxattr(path, buffer, (nuint)buffer.Length);
        if (size <= 0) return Array.Empty<string>();
        return Encoding.UTF8.GetString(buffer, 0, (int)size).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    public static string? Get(string path, string name)
    {
        var buffer = new byte[256];
        var size = lgetxattr(path, name, buffer, (nuint)buffer.Length);
        return size < 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)size);
    }

    private static void Set(string path, string name, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        if (lsetxattr(path, name, bytes, (nuint)bytes.Length, 0) != 0)
            throw new IOException($"setting {name} on {path}: {Native.LibC.ErrorText(Marshal.GetLastPInvokeError())}");
    }

    private static void Remove(string path, string name)
    {
        if (lremovexattr(path, name) != 0)
            throw new IOException($"removing {name} from {path}: {Native.LibC.ErrorText(Marshal.GetLastPInvokeError())}");
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint llistxattr(string path, byte[]? list, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte[] value, nuint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int lsetxattr(string path, string name, byte[] value, nuint size, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lremovexattr(string path, string name);
}
