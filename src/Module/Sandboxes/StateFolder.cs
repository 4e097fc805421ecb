using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Sandboxes;

/// <summary>
/// A folder of a sandbox's state (the state folder, its <c>running/</c>) opened as a descriptor
/// from the store root without following any link on the way: under sudo the store's folders belong
/// to the calling user, who could swap <c>sandboxes/&lt;id&gt;</c> for a link into one of root's
/// folders between a check and a use, and have root create (and hand over) a file there. Files are
/// then made relative to the descriptor (openat, fchown), never by a path that is resolved again.
/// </summary>
internal static partial class StateFolder
{
    /// <summary>The folder's O_PATH descriptor, or -1 when it is missing or not a real folder all the way down from the store root.</summary>
    public static int Open(string storeRoot, string folder)
    {
        if (string.IsNullOrEmpty(storeRoot) || string.IsNullOrEmpty(folder)) return -1;
        var relative = Path.GetRelativePath(storeRoot, folder);
        if (relative == ".." || relative.StartsWith("../", StringComparison.Ordinal) || Path.IsPathRooted(relative)) return -1;
        int root;
        // Callers take -1 as "cannot be used" and carry on (a running command's record is made right
        // after its spawn, where a throw would leave the command unwatched): a store root that is not
        // the one accepted any more is such a case, not an exception here.
        try { root = Storage.StoreRootGuard.OpenRoot(storeRoot); }
        catch (SandboxException) { return -1; }
        if (root < 0) return -1;
        try
        {
            var fd = OpenAt2.Open(root, relative, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY,
                OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS);
            return fd < 0 ? -1 : fd;
        }
        finally
        {
            OpenAt2.close(root);
        }
    }

    /// <summary>
    /// A regular file <paramref name="name"/> of the folder <paramref name="folderFd"/>, opened
    /// read-write (made 0600 when new): never through a link, never a FIFO or device, never a file
    /// with other names (hard links) or of someone else. With <paramref name="sudoCallersToo"/> a new
    /// file is handed to the sudo caller (like state.json, so the caller's own sessions can write it)
    /// and a file of theirs is accepted; without, only this process's own user's files count (records
    /// root relies on to kill processes). -1 when the file cannot be used.
    /// </summary>
    public static int OpenOwnFile(int folderFd, string name, bool sudoCallersToo)
    {
        var flags = OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC | OpenFlags.O_RDWR;
        var created = true;
        var fd = OpenAt2.openat(folderFd, name, flags | OpenFlags.O_CREAT | OpenFlags.O_EXCL, 0b110_000_000);
        if (fd < 0)
        {
            created = false;
            fd = OpenAt2.openat(folderFd, name, flags, 0);
            if (fd < 0) return -1;
        }
        var sudo = sudoCallersToo ? SudoCaller.Current : null;
        if (FileStatus.OfDescriptor(fd) is not { IsRegularFile: true, LinkCount: 1 } status
            || (status.Uid != UserIdentity.EffectiveUid && (sudo is null || status.Uid != (uint)sudo.Uid)))
        {
            OpenAt2.close(fd);
            return -1;
        }
        if (created && sudo is not null) OpenAt2.fchown(fd, (uint)sudo.Uid, (uint)sudo.Gid);
        return fd;
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> over the start of the open file <paramref name="fd"/> in one
    /// pwrite at offset 0. The records kept in a state folder (the totals line, a running-command
    /// slot) are fixed-length lines rewritten in place: never a truncate, and no new space once the
    /// file has been written once (a command is still recorded in a full store). False when the
    /// write failed or fell short; errno is then the last P/Invoke error.
    /// </summary>
    public static bool TryWriteWhole(int fd, byte[] bytes) => pwrite(fd, bytes, (nuint)bytes.Length, 0) == bytes.Length;

    /// <summary><see cref="TryWriteWhole"/>, a failure thrown as an IOException "writing <paramref name="what"/> failed: ...".</summary>
    public static void WriteWhole(int fd, byte[] bytes, string what)
    {
        if (TryWriteWhole(fd, bytes)) return;
        var errno = Marshal.GetLastPInvokeError();
        throw new IOException($"writing {what} failed: {LibC.ErrorText(errno)}", errno);
    }

    /// <summary>rename(2) of one name of the folder to another, both relative to its descriptor.</summary>
    public static int Rename(int folderFd, string from, string to) => OpenAt2.renameat(folderFd, from, folderFd, to);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint pwrite(int fd, byte[] buffer, nuint count, long offset);
}
