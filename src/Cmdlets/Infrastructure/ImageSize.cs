using System.IO.Enumeration;
using System.Management.Automation;
using System.Runtime.CompilerServices;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// An image's size on disk, the SizeBytes property Sandbox.Types.ps1xml gives every SandboxImage.
/// Measured on demand (only a view or a script that reads it pays for the walk) and once per image
/// object. The walk never follows links, so a link in the image to / or to itself costs nothing.
/// Files shared by hard links count once per name: this is the image's apparent size.
/// </summary>
public static class ImageSize
{
    private static readonly ConditionalWeakTable<SandboxImage, StrongBox<long>> Measured = new();

    /// <summary>The CodeProperty getter: PowerShell passes the object the property is read on.</summary>
    public static long SizeBytes(PSObject image) =>
        image.BaseObject is SandboxImage known ? Measured.GetValue(known, i => new StrongBox<long>(
            // A derived image is every layer of its chain (whiteouts and copied-up files counted as they lie).
            i.LayerFolders.Count > 0 ? i.LayerFolders.Sum(Of) : Of(i.RootFs))).Value : 0;

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
