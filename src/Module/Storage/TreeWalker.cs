using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>Every entry below a folder with its lstat facts, never following links; unreadable folders are skipped.</summary>
internal static class TreeWalker
{
    public static IEnumerable<(string Relative, FileStatus Status)> Walk(string root)
    {
        if (!Directory.Exists(root)) yield break;
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            IEnumerable<string> children;
            try { children = Directory.EnumerateFileSystemEntries(pending.Pop()).ToList(); }
            catch (UnauthorizedAccessException) { continue; }
            foreach (var child in children)
            {
                if (FileStatus.Of(child) is not { } status) continue;
                yield return (Path.GetRelativePath(root, child), status);
                if (status.IsDirectory) pending.Push(child);
            }
        }
    }
}
