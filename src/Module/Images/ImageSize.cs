using System.IO.Enumeration;

namespace Sandbox.Images;

/// <summary>
/// The apparent size of a tree on disk (<see cref="SandboxImage.SizeBytes"/>). The walk never follows
/// links, so a link in the image to / or to itself costs nothing. Files shared by hard links count
/// once per name.
/// </summary>
internal static class ImageSize
{
    public static long Of(string rootFs)
    {
        if (string.IsNullOrEmpty(rootFs) || !Directory.Exists(rootFs)) return 0;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0, ReturnSpecialDirectories = false,
        };
        var sizes = new FileSystemEnumerable<long>(rootFs,
            (ref FileSystemEntry entry) => entry.IsDirectory ? 0 : entry.Length, options)
        {
            // A symbolic link to a folder is an entry, never a way down.
            ShouldRecursePredicate = (ref FileSystemEntry entry) => (entry.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        long total = 0;
        foreach (var size in sizes) total += size;
        return total;
    }
}
