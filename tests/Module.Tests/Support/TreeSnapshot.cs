using System.Security.Cryptography;
using Sandbox.Native;

namespace Sandbox.Tests.Support;

/// <summary>
/// Everything that makes two trees byte-identical: for each path its type and permission bits,
/// owner, group, link count, size, content hash and link target. Compared before and after a
/// sandbox ran, it proves the image was not touched.
/// </summary>
public sealed class TreeSnapshot
{
    private readonly SortedDictionary<string, string> _entries;

    private TreeSnapshot(SortedDictionary<string, string> entries) => _entries = entries;

    public int Count => _entries.Count;

    public static TreeSnapshot Take(string root)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var folder = pending.Pop();
            foreach (var path in Directory.EnumerateFileSystemEntries(folder))
            {
                var status = FileStatus.Of(path) ?? throw new IOException($"cannot stat {path}");
                var description = $"mode={Convert.ToString(status.Mode, 8)} uid={status.Uid} gid={status.Gid} links={status.LinkCount}";
                if (status.IsSymbolicLink) description += $" -> {new FileInfo(path).LinkTarget}";
                else if (status.IsRegularFile) description += $" size={status.Size} sha256={Hash(path)}";
                else if (status.IsDirectory) pending.Push(path);
                entries[Path.GetRelativePath(root, path)] = description;
            }
        }
        var rootStatus = FileStatus.Of(root)!.Value;
        entries["."] = $"mode={Convert.ToString(rootStatus.Mode, 8)} uid={rootStatus.Uid} gid={rootStatus.Gid}";
        return new TreeSnapshot(entries);
    }

    /// <summary>The differences, one line each; empty when identical.</summary>
    public IReadOnlyList<string> DifferencesFrom(TreeSnapshot before)
    {
        var differences = new List<string>();
        foreach (var (path, was) in before._entries)
        {
            if (!_entries.TryGetValue(path, out var now)) differences.Add($"removed: {path} ({was})");
            else if (now != was) differences.Add($"changed: {path}: {was} => {now}");
        }
        differences.AddRange(_entries.Keys.Except(before._entries.Keys).Select(path => $"added: {path}"));
        return differences;
    }

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream))[..16];
    }
}
