using Sandbox.Images.Layers;
using Sandbox.Native;

namespace Sandbox.Tests.Support;

/// <summary>
/// A canonical listing of a tree for comparing two trees exactly: <see cref="TreeSnapshot"/>'s
/// entries (type, mode, owners, links, size, content hash, link target) plus every extended
/// attribute's name and value, and device numbers.
/// </summary>
public static class LayerListing
{
    public static IReadOnlyList<string> Of(string root)
    {
        var lines = new List<string>();
        foreach (var path in new[] { root }.Concat(Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions
                 {
                     RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false,
                 })).OrderBy(p => p, StringComparer.Ordinal))
        {
            var status = FileStatus.Of(path) ?? throw new IOException($"cannot stat {path}");
            var line = $"{Path.GetRelativePath(root, path)} mode={Convert.ToString(status.Mode, 8)} uid={status.Uid} gid={status.Gid}";
            if (status.IsSymbolicLink) line += $" -> {new FileInfo(path).LinkTarget}";
            else if (status.IsRegularFile) line += $" size={status.Size} sha256={Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)))[..16]}";
            else if (!status.IsDirectory) line += $" dev={status.RDevMajor}:{status.RDevMinor}";
            foreach (var name in OverlayMarkers.List(path).Order(StringComparer.Ordinal))
                line += $" xattr:{name}={OverlayMarkers.Get(path, name)}";
            lines.Add(line);
        }
        return lines;
    }
}
