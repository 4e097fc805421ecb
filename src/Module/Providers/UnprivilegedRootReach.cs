using Sandbox.Native;

namespace Sandbox.Providers;

/// <summary>
/// Whether root without its capabilities can reach a folder: what root Bubblewrap is when it runs a
/// command as another user. bwrap then makes a user namespace of its own that maps the user to host
/// root, and sets the sandbox up from inside it, where host root has no CAP_DAC_OVERRIDE: it passes
/// only folders whose mode lets uid 0 (or group 0, or anybody) search them, and refuses the bind of
/// merged/ with "Can't find source path ...: Permission denied" (even given as a descriptor).
/// Under sudo the store is the calling user's, mode 0700, so every such command failed that way.
/// </summary>
internal static class UnprivilegedRootReach
{
    /// <summary>The first folder on <paramref name="folder"/>'s way (itself included) that root without capabilities may not search, or null.</summary>
    public static string? FirstBarrier(string folder)
    {
        var path = Path.GetFullPath(folder);
        for (var current = path; !string.IsNullOrEmpty(current); current = Path.GetDirectoryName(current))
        {
            if (FileStatus.Of(current) is not { IsDirectory: true } status) continue;
            if (!Searchable(status)) return current;
        }
        return null;
    }

    private static bool Searchable(FileStatus status)
    {
        var mode = status.Mode;
        if (status.Uid == 0) return (mode & 0b001_000_000) != 0;
        if (status.Gid == 0) return (mode & 0b000_001_000) != 0;
        return (mode & 0b000_000_001) != 0;
    }
}
