using Sandbox.Native;
using Sandbox.Providers;
using static Sandbox.Native.OpenAt2;

namespace Sandbox.Sandboxes;

/// <summary>
/// Checks, right before a bubblewrap command, that no bind target of the sandbox leads out of it.
/// bwrap makes its binds after pivoting to a scratch root where the sandbox's tree is /newroot and
/// the host's is /oldroot; it follows links on the target path, and creates what is missing. A
/// sandbox that replaced a folder of a target (say /opt2 of /opt2/data) with a link to
/// /oldroot/tmp/victim had bwrap create folders and files on the host and bind there. So every part
/// of each target that exists in the sandbox's view must be a real folder (the last part, for a file
/// bind, a regular file), looked up without following anything (openat2 RESOLVE_NO_SYMLINKS); what
/// is missing bwrap creates as plain folders below real ones. The view is the mounted overlay (root),
/// else its upper layer over the image (rootless: the overlay exists only in the command's
/// namespace); a target inside an earlier bind's target is looked up in that bind's host folder,
/// which the sandbox can change too. As root the overlay is looked up through the descriptor bwrap
/// will bind (HeldOverlayRoot's path), not through merged/, which the store's owner could redirect.
/// Targets under the fresh tmpfs /run need nothing (/tmp is part of the layer, so it is checked).
/// Left: a process of the same sandbox that runs during the check could still swap a folder for a
/// link between the check and bwrap's mount.
/// </summary>
internal static class BindTargetGuard
{
    private static readonly string[] FreshEveryCommand = { "/run" };
    private const ulong NoLinks = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

    /// <param name="mountedRoot">The overlay mounted on the host, as a path to its held root; null rootless.</param>
    public static void Check(SandboxInfo sandbox, OverlayLayer layer, string? mountedRoot)
    {
        for (var i = 0; i < sandbox.Mounts.Count; i++)
        {
            var mount = sandbox.Mounts[i];
            if (FreshEveryCommand.Any(fresh => IsSameOrUnder(mount.SandboxPath, fresh))) continue;

            var cover = sandbox.Mounts.Take(i).Where(m => IsSameOrUnder(mount.SandboxPath, m.SandboxPath))
                .MaxBy(m => m.SandboxPath.Length);
            var (roots, above) = cover is not null
                ? (new[] { cover.HostPath }, cover.SandboxPath)
                : mountedRoot is not null ? (new[] { mountedRoot }, "") : (layer.Stack.ToArray(), "");
            var segments = mount.SandboxPath[above.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
            var fileBind = FileStatus.Of(mount.HostPath) is { IsDirectory: false };
            if (Walk(roots, segments, above, fileBind) is { } problem) throw Subverted(sandbox, mount, problem);
        }
    }

    /// <summary>Null if every existing part of the path is a real folder in the topmost layer that has it; else what is wrong.</summary>
    private static string? Walk(string[] roots, string[] segments, string above, bool fileBind)
    {
        var current = roots.Select(root => Open(-100, root, O_PATH | O_DIRECTORY, 0)).ToArray();
        try
        {
            for (var i = 0; i < segments.Length; i++)
            {
                var shown = above + "/" + string.Join('/', segments[..(i + 1)]);
                var last = i == segments.Length - 1;
                var next = current.Select(fd => fd < 0 ? -ENOENT : Open(fd, segments[i], O_PATH | O_NOFOLLOW, NoLinks)).ToArray();
                try
                {
                    // The topmost layer that has the name decides what the sandbox sees there.
                    var top = Array.FindIndex(next, fd => fd >= 0 || fd != -ENOENT);
                    if (top < 0) return null; // missing: bwrap makes it a folder
                    if (next[top] < 0) return $"{shown} cannot be looked up ({ErrorText(-next[top])})";
                    var status = StatOf(next[top]);
                    if (status is null || status.Value.IsWhiteout) return null; // deleted in the sandbox: missing
                    if (status.Value.IsSymbolicLink)
                        return $"{shown} in the sandbox is a symbolic link (to {LinkTarget(current[top], segments[i]) ?? "?"}), planted where a folder was";
                    if (!status.Value.IsDirectory)
                        return last && fileBind && status.Value.IsRegularFile ? null : $"{shown} in the sandbox is not a folder";
                    // Go down in every layer that has a folder there; the others have nothing below.
                    for (var layer = 0; layer < next.Length; layer++)
                    {
                        if (current[layer] >= 0) close(current[layer]);
                        current[layer] = layer >= top && next[layer] >= 0 && StatOf(next[layer]) is { IsDirectory: true } ? next[layer] : -ENOENT;
                        if (current[layer] != next[layer] && next[layer] >= 0) close(next[layer]);
                        next[layer] = -ENOENT;
                    }
                }
                finally
                {
                    foreach (var fd in next.Where(fd => fd >= 0)) close(fd);
                }
            }
            return null;
        }
        finally
        {
            foreach (var fd in current.Where(fd => fd >= 0)) close(fd);
        }
    }

    private static SandboxException Subverted(SandboxInfo sandbox, BindMount mount, string problem) =>
        SandboxErrors.BindTargetSubverted(sandbox.Provider, sandbox.Name, mount.SandboxPath, problem);

    private static bool IsSameOrUnder(string path, string folder) =>
        path == folder || path.StartsWith(folder + "/", StringComparison.Ordinal);
}
