using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Makes the store root and the missing folders above it (~/.local/share under sudo), one step at a
/// time by descriptor, and under sudo gives each folder made to the caller through that descriptor.
/// By path, the caller (who owns ~/.local) could swap a folder above for a link to /usr between
/// root's mkdir and its hand-over, and root chowned /usr/share to them. Here each folder is made with
/// mkdirat in the folder held open before it, opened again without following a link, and handed over
/// only if it is root's (we just made it) and empty: no name is looked up twice.
///
/// The deepest folder that exists is opened as the kernel resolves its path (links the store guard
/// allowed: the owner's or root's). Since the owner may have pointed such a link anywhere, under sudo
/// root makes a folder for them only inside a folder that is theirs already, or that anyone may add
/// to (sticky and world-writable, like /tmp): never one they could not have made themselves.
/// </summary>
internal static class CallerFolders
{
    private const uint Sticky = 0b001_000_000_000;
    private const uint OtherWrite = 0b000_000_010;

    /// <summary>
    /// Makes <paramref name="folder"/> and every missing folder above it with <paramref name="mode"/>
    /// (less the umask). Returns false when <paramref name="folder"/> already existed.
    /// </summary>
    public static bool Make(string folder, uint mode, SudoCaller? caller)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var missing = new Stack<string>();
        var existing = full;
        while (FileStatus.Of(existing) is null)
        {
            missing.Push(Path.GetFileName(existing));
            existing = Path.GetDirectoryName(existing) ?? throw new IOException($"no folder of {full} exists, not even /");
        }
        if (missing.Count == 0) return false;
        var fd = OpenAt2.Open(DirectoryCalls.AT_FDCWD, existing, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"open({existing}) failed: {LibC.ErrorText(-fd)}", -fd);
        try
        {
            var where = existing;
            while (missing.TryPop(out var name))
            {
                var next = MakeOne(fd, where, name, mode, caller, full);
                OpenAt2.close(fd);
                fd = next;
                where = Path.Join(where, name);
            }
            return true;
        }
        finally { OpenAt2.close(fd); }
    }

    /// <summary>Makes <paramref name="name"/> in the held folder <paramref name="parentFd"/>; returns it opened (O_NOFOLLOW).</summary>
    private static int MakeOne(int parentFd, string parentPath, string name, uint mode, SudoCaller? caller, string target)
    {
        var path = Path.Join(parentPath, name);
        if (caller is not null) RequireCallersOwn(parentFd, parentPath, path, caller, target);
        var made = OpenAt2.mkdirat(parentFd, name, mode) == 0;
        if (!made && Marshal.GetLastPInvokeError() is var errno && errno != OpenAt2.EEXIST) // EEXIST: another engine was first
            throw new IOException($"mkdir({path}) failed: {LibC.ErrorText(errno)}", errno);
        var fd = DirectoryCalls.OpenFolder(parentFd, DirectoryCalls.Bytes(name));
        if (fd < 0)
            throw SandboxErrors.StorePathUnsafe(target, path, fd == -OpenAt2.ELOOP || fd == -OpenAt2.ENOTDIR
                ? "was replaced by something other than a folder (a link?) right after it was made" : $"cannot be opened ({LibC.ErrorText(-fd)})",
                StoreRootGuard.UserName(caller is null ? UserIdentity.EffectiveUid : (uint)caller.Uid));
        // Only a folder of root's that is still empty is the one just made; anything else someone put there is left as it is.
        if (made && caller is not null && DirectoryCalls.StatDescriptor(fd) is { Uid: 0 } && IsEmpty(fd))
            caller.HandOverHeld(fd, path);
        return fd;
    }

    private static void RequireCallersOwn(int parentFd, string parentPath, string path, SudoCaller caller, string target)
    {
        var status = DirectoryCalls.StatDescriptor(parentFd);
        if (status is { } s && (s.Uid == (uint)caller.Uid || (s.Uid == 0 && (s.Permissions & (Sticky | OtherWrite)) == (Sticky | OtherWrite))))
            return;
        throw SandboxErrors.StorePathUnsafe(target, parentPath,
            $"belongs to {(status is { } known ? StoreRootGuard.UserName(known.Uid) : "nobody known")}, and root would have to make {path} in it for you " +
            "(under sudo root makes folders for you only in your own folders; a link of yours on the path may point elsewhere)",
            StoreRootGuard.UserName((uint)caller.Uid));
    }

    private static bool IsEmpty(int fd) => DirectoryCalls.ReadNames(fd, out var error).Count == 0 && error == 0;
}
