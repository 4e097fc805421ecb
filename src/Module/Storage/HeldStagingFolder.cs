using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// A build's or publish's staging folder of the store (an image's <c>.staging-*</c>, a layer's
/// <c>.staging-layer-*</c>): made by this process beneath the checked store root, private (0700) and
/// its maker's, held by descriptor from its making to its publishing, and handed to the sudo caller
/// only once it is published.
/// <para>Why: under sudo the store is the caller's, so the folder that holds the staging folder is
/// theirs. While root fills it (cp, tar, mmdebstrap, image.json) they could rename it away and put a
/// link to /etc in its place, and every path handed to the kernel again would have root write there.
/// Root's own 0700 folder cannot be entered, nor anything renamed or planted inside it, by the
/// caller; the one thing left to them, renaming the folder itself, changes nothing here: tools are
/// given <see cref="Path"/>, its descriptor's /proc name (<see cref="DescriptorPath"/>) that the kernel
/// resolves to the held folder for every root process we start; records are created through the
/// descriptor with O_CREAT|O_EXCL|O_NOFOLLOW; entries move out by renameat2 relative to it; and it is
/// published only if its name still holds it. Rootless the store is the user's own, nobody else's to
/// swap, and a tool under unshare may not look into our descriptors: there <see cref="Path"/> is the path.</para>
/// </summary>
internal sealed partial class HeldStagingFolder : IDisposable
{
    private const int RENAME_NOREPLACE = 1;
    private const uint FolderMode = 0b111_000_000;
    private const uint RecordMode = 0b110_000_000;

    private StoreEntry? _entry;
    private int _fd;
    private bool _published;

    private readonly string _storeFolder;

    private HeldStagingFolder(StoreEntry entry, int fd, string storeFolder)
    {
        _storeFolder = storeFolder;
        _entry = entry;
        _fd = fd;
        Path = UserIdentity.IsRoot ? DescriptorPath.Of(fd) : entry.Path;
    }

    /// <summary>Where tools and by-path code reach the folder: its descriptor's name as root, else its path.</summary>
    public string Path { get; }

    /// <summary>The folder's path in the store, for messages (never opened as root).</summary>
    public string StorePath => Entry.Path;

    private StoreEntry Entry => _entry ?? throw new ObjectDisposedException(nameof(HeldStagingFolder));

    /// <summary>
    /// Makes the new folder <paramref name="path"/> (a fresh, random name) in <paramref name="storeFolder"/>,
    /// its parent reached beneath the store root. Throws StoreEntryUnsafe when a folder on its way is a
    /// link, or something already stands at its name (nobody but the store's owner could have put it there).
    /// </summary>
    public static HeldStagingFolder Create(string path, string storeFolder)
    {
        static Exception Refuse(string where, string problem) => SandboxErrors.StoreEntryUnsafe(where, "make the staging folder", problem);
        var entry = StoreEntry.OpenParentBeneath(path, storeFolder, Refuse)
            ?? throw new DirectoryNotFoundException($"cannot make the staging folder '{path}': its parent is not there.");
        try
        {
            if (OpenAt2.mkdirat(entry.ParentFd, entry.Name, FolderMode) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == OpenAt2.EEXIST) throw Refuse(entry.Path, "something already stands at its new, random name.");
                throw new IOException($"cannot make the staging folder '{entry.Path}': {OpenAt2.ErrorText(errno)}", errno);
            }
            var fd = OpenAt2.openat(entry.ParentFd, entry.Name, OpenAt2.O_RDONLY | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW | OpenAt2.O_CLOEXEC, 0);
            if (fd < 0) throw Refuse(entry.Path, $"it was replaced right after it was made ({OpenAt2.ErrorText(Marshal.GetLastPInvokeError())}).");
            // Swapped between mkdirat and openat for a folder of someone else's, or for one of ours the
            // store's owner kept from an earlier build (a staging folder they renamed away, with links
            // planted by what it held): not ours to fill. Ours is empty, as mkdirat made it.
            if (OpenAt2.StatOf(fd) is not { } made || made.Uid != UserIdentity.EffectiveUid
                || Directory.EnumerateFileSystemEntries(DescriptorPath.Of(fd)).Any() || OpenAt2.fchmod(fd, FolderMode) != 0)
            {
                OpenAt2.close(fd);
                throw Refuse(entry.Path, "it was replaced right after it was made by a folder that is not the empty one made.");
            }
            return new HeldStagingFolder(entry, fd, storeFolder);
        }
        catch
        {
            entry.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates record <paramref name="name"/> in the folder with <paramref name="text"/>, 0600, through the
    /// descriptor: O_CREAT|O_EXCL|O_NOFOLLOW, so nothing that stands at the name (a link) is ever written
    /// through. IOException (HResult the errno, so StoreSpace tells a full disk) on failure.
    /// </summary>
    public void WriteNewFile(string name, string text)
    {
        var fd = OpenAt2.openat(_fd, name, OpenAt2.O_WRONLY | OpenAt2.O_CREAT | OpenAt2.O_EXCL | OpenAt2.O_NOFOLLOW | OpenAt2.O_CLOEXEC, RecordMode);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot create '{System.IO.Path.Combine(StorePath, name)}': {OpenAt2.ErrorText(errno)}", errno);
        }
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Write);
        using var writer = new StreamWriter(stream);
        writer.Write(text);
    }

    /// <summary>
    /// A detached bind mount of the held folder (<see cref="DetachedBind"/>), for a launcher in a mount
    /// namespace of its own to put where it likes: the caller owns and closes the descriptor.
    /// </summary>
    public int CloneDetached()
    {
        var tree = DetachedBind.Clone(_fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(HeldStagingFolder)));
        return tree >= 0 ? tree
            : throw new IOException($"cannot clone a mount of the staging folder '{StorePath}': {OpenAt2.ErrorText(-tree)}", -tree);
    }

    /// <summary>Moves entry <paramref name="name"/> of this folder to <paramref name="targetName"/> in <paramref name="target"/>, relative to both descriptors, never replacing anything.</summary>
    public void MoveEntryTo(string name, HeldStagingFolder target, string targetName)
    {
        if (renameat2(_fd, name, target._fd, targetName, RENAME_NOREPLACE) == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        throw new IOException($"cannot move '{System.IO.Path.Combine(StorePath, name)}' to '{System.IO.Path.Combine(target.StorePath, targetName)}': {OpenAt2.ErrorText(errno)}", errno);
    }

    /// <summary>Under sudo, gives entry <paramref name="name"/> itself (never what a link leads to) to the caller, relative to the descriptor.</summary>
    public void HandOverEntry(string name)
    {
        if (SudoCaller.Current is not { } caller) return;
        var changed = DirectoryCalls.ChangeOwner(_fd, DirectoryCalls.Bytes(name), caller.Uid, caller.Gid);
        if (changed != 0) throw new IOException($"cannot hand '{System.IO.Path.Combine(StorePath, name)}' over to {caller.Name}: {OpenAt2.ErrorText(-changed)}");
    }

    /// <summary>
    /// Renames the folder to <paramref name="finalPath"/> (inside <paramref name="storeFolder"/>, its parent
    /// reached beneath the store; nothing there is replaced), then, last, hands it to the sudo caller
    /// through its descriptor. Refused (StoreEntryUnsafe) when its staging name no longer holds it: the
    /// store's owner moved it away, and whatever stands there now is not what was filled.
    /// </summary>
    public void Publish(string finalPath, string storeFolder)
    {
        if (!StillAtItsName())
            throw SandboxErrors.StoreEntryUnsafe(StorePath, "publish",
                "the staging folder was moved away or replaced while it was filled; whoever owns the store did that. Build again.");
        static Exception Refuse(string where, string problem) => SandboxErrors.StoreEntryUnsafe(where, "publish", problem);
        using var target = StoreEntry.OpenParentBeneath(finalPath, storeFolder, Refuse)
            ?? throw new DirectoryNotFoundException($"cannot publish '{StorePath}' as '{finalPath}': its folder is not there.");
        if (renameat2(Entry.ParentFd, Entry.Name, target.ParentFd, target.Name, RENAME_NOREPLACE) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot publish '{StorePath}' as '{finalPath}': {OpenAt2.ErrorText(errno)}", errno);
        }
        if (SudoCaller.Current is { } caller && OpenAt2.fchown(_fd, (uint)caller.Uid, (uint)caller.Gid) != 0)
            throw new IOException($"cannot hand '{finalPath}' over to {caller.Name}: {OpenAt2.ErrorText(Marshal.GetLastPInvokeError())}");
        _published = true;
    }

    /// <summary>
    /// Deletes the folder (unless published) only while its name still holds it; moved away by the
    /// store's owner, it is theirs to find. As root relative to the folder holding it, never through a
    /// link; a user by the store path as before (SafeTreeRemover.Remove): their tree may hold files of
    /// their subordinate ids and folders without write permission, which only an rm in their user
    /// namespace can delete (re-importing the same content deletes such a tree).
    /// </summary>
    public void Delete()
    {
        if (_published || _entry is null || !StillAtItsName()) return;
        if (UserIdentity.IsRoot) SafeTreeRemover.DeleteTree(_entry.ParentFd, _entry.NameBytes, _entry.Path);
        else SafeTreeRemover.Remove(_entry.Path, _storeFolder);
    }

    /// <summary>Whether the entry at the folder's name is the held folder (same device and inode), not a link or another folder.</summary>
    private bool StillAtItsName() =>
        Entry.Status() is { IsSymbolicLink: false } named && OpenAt2.StatOf(_fd) is { } held
        && (named.DeviceMajor, named.DeviceMinor, named.Inode) == (held.DeviceMajor, held.DeviceMinor, held.Inode);

    public void Dispose()
    {
        if (_fd >= 0) OpenAt2.close(_fd);
        _fd = -1;
        _entry?.Dispose();
        _entry = null;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);
}
