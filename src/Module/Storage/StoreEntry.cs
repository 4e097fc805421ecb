using System.Globalization;
using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// One entry of the store, reached as root without trusting its path: the folder that holds it is
/// opened beneath the store root's descriptor (<see cref="StoreRootGuard.OpenRoot"/>, the folder the
/// guard checked) with openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, and the entry
/// is then named only relative to that descriptor (unlinkat, renameat2, fchownat, openat).
/// <para>Why: under sudo the store is the caller's. StoreRootGuard proves that nobody but the caller
/// and root can change the store's path, but the caller is exactly who we must not trust: between our
/// look and our use they can rename <c>images</c> (or any folder below the root) away and put a link to
/// <c>/var/lib</c> in its place, and a path handed to the kernel again would have root delete, move or
/// chown there. With the folder reached here, a link anywhere on the way is refused (ELOOP), ".." out
/// of the store too (EXDEV), and a swap after the opening changes nothing: the descriptor still holds
/// the folder that was inside the store.</para>
/// <para>Which folder anchors the walk: the descriptor itself when the path is one of ours
/// (<see cref="DescriptorPath.Of"/>, how the trash deletes); else the deepest store root this process
/// checked that holds it, or this user's default store (<see cref="StoreRootOf"/>); else (no store
/// around it: a temporary tree of a test or tool) the given store folder, opened by its path as before.</para>
/// </summary>
internal sealed partial class StoreEntry : IDisposable
{
    private const ulong Beneath = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;
    private const int RENAME_NOREPLACE = 1;

    private StoreEntry(int parentFd, string name, string path)
    {
        ParentFd = parentFd;
        Name = name;
        Path = path;
    }

    /// <summary>The O_PATH descriptor of the folder holding the entry, reached beneath the store.</summary>
    public int ParentFd { get; private set; }

    /// <summary>The entry's name in that folder (one component, never "." or "..").</summary>
    public string Name { get; }

    /// <summary>The entry's full path as given: for messages only, never opened.</summary>
    public string Path { get; }

    /// <summary>The entry's name as the NUL-terminated bytes <see cref="DirectoryCalls"/> takes.</summary>
    public byte[] NameBytes => DirectoryCalls.Bytes(Name);

    /// <summary>
    /// Opens the folder holding <paramref name="fullPath"/>, which must lie inside
    /// <paramref name="storeFolder"/>, beneath the store without following any link. Null when that
    /// folder is not there (removed meanwhile: nothing to act on). Throws <paramref name="refuse"/>'s
    /// exception (by default StoreUnsafe) for a path outside the store folder, or a link or non-folder on
    /// the way (a component swapped by whoever owns the store).
    /// </summary>
    public static StoreEntry? OpenParentBeneath(string fullPath, string storeFolder, Func<string, string, Exception>? refuse = null)
    {
        refuse ??= (path, problem) => SandboxErrors.StoreUnsafe(path, problem);
        var target = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(fullPath));
        var boundary = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(storeFolder));
        if (!target.StartsWith(boundary + "/", StringComparison.Ordinal))
            throw refuse(target, $"it is not inside the store folder {boundary}.");
        var parentPath = System.IO.Path.GetDirectoryName(target)!;
        var name = System.IO.Path.GetFileName(target);

        var (anchor, anchorPath, ownsAnchor) = OpenAnchor(boundary, target, refuse);
        if (anchor == -OpenAt2.ENOENT) return null;
        try
        {
            var relative = System.IO.Path.GetRelativePath(anchorPath, parentPath);
            var parent = OpenAt2.Open(anchor, relative, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY, Beneath);
            if (parent == -OpenAt2.ENOENT) return null;
            if (parent < 0)
                throw refuse(target, $"a folder on its way inside the store is a link or not a folder ({OpenAt2.ErrorText(-parent)}); " +
                    "whoever owns the store may have swapped it. Check the store's folders and remove the link.");
            return new StoreEntry(parent, name, target);
        }
        finally
        {
            if (ownsAnchor) OpenAt2.close(anchor);
        }
    }

    /// <summary>The descriptor the walk starts from, its path, and whether it is ours to close; -ENOENT when the store is not there.</summary>
    private static (int Fd, string Path, bool Owned) OpenAnchor(string boundary, string target, Func<string, string, Exception> refuse)
    {
        if (OwnDescriptorPrefix(boundary) is var (fd, path)) return (fd, path, false);
        if (StoreRootOf(boundary) is { } root)
        {
            // OpenRoot accepts only the folder the guard checked (and checks a root this process has not yet).
            var rootFd = StoreRootGuard.OpenRoot(root);
            if (rootFd < 0 && rootFd != -OpenAt2.ENOENT) throw refuse(target, $"the store root {root} cannot be opened ({OpenAt2.ErrorText(-rootFd)}).");
            return (rootFd, root, true);
        }
        // No store around it (a temporary tree of a test or tool): the folder as the caller named it.
        var folder = OpenAt2.OpenRoot(boundary);
        if (folder < 0 && folder != -OpenAt2.ENOENT)
            throw refuse(target, $"the store folder {boundary} cannot be opened ({OpenAt2.ErrorText(-folder)}).");
        return (folder, boundary, true);
    }

    /// <summary>
    /// The store root <paramref name="path"/> lies in (or is): the deepest one this process checked, else
    /// this user's default store (StoreLayout.Resolve: $SANDBOX_HOME, or the sudo caller's) when it holds
    /// the path, which a store made moments ago may not have been checked as yet. Null for any other path.
    /// </summary>
    public static string? StoreRootOf(string path)
    {
        if (StoreRootGuard.CheckedRootOf(path) is { } checkedRoot) return checkedRoot;
        string root;
        try { root = StoreLayout.Resolve().Root; }
        catch (SandboxException) { return null; } // no usable default store
        var full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));
        return full == root || full.StartsWith(root + "/", StringComparison.Ordinal) ? root : null;
    }

    /// <summary>When <paramref name="path"/> is one of our descriptors' names or below one: that descriptor and its name.</summary>
    private static (int Fd, string Path)? OwnDescriptorPrefix(string path)
    {
        var probe = path;
        while (probe.Length > 1)
        {
            if (DescriptorPath.IsOwnDescriptor(probe))
                return (int.Parse(probe.AsSpan(probe.LastIndexOf('/') + 1), NumberStyles.None, CultureInfo.InvariantCulture), probe);
            probe = System.IO.Path.GetDirectoryName(probe) ?? "/";
        }
        return null;
    }

    /// <summary>lstat of the entry, relative to its folder; null when it is not there.</summary>
    public FileStatus? Status() => DirectoryCalls.StatName(ParentFd, NameBytes);

    /// <summary>
    /// Renames <paramref name="from"/> to <paramref name="to"/>, both inside <paramref name="storeFolder"/>,
    /// with renameat2 between folders reached beneath the store (see the class): a link swapped onto either
    /// path is refused, never followed. Like Directory.Move it never replaces what is at the target
    /// (RENAME_NOREPLACE); unlike it, it moves a file as well as a folder.
    /// Throws DirectoryNotFoundException when the source (or its folder) is not there, IOException on any
    /// other failure, and StoreEntryUnsafe when a folder on either way is a link.
    /// </summary>
    public static void Move(string from, string to, string storeFolder)
    {
        static Exception Refuse(string path, string problem) => SandboxErrors.StoreEntryUnsafe(path, "move", problem);
        using var source = OpenParentBeneath(from, storeFolder, Refuse)
            ?? throw new DirectoryNotFoundException($"cannot move '{from}': its folder is not there.");
        using var target = OpenParentBeneath(to, storeFolder, Refuse)
            ?? throw new DirectoryNotFoundException($"cannot move '{from}' to '{to}': the target's folder is not there.");
        if (renameat2(source.ParentFd, source.Name, target.ParentFd, target.Name, RENAME_NOREPLACE) == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == OpenAt2.ENOENT) throw new DirectoryNotFoundException($"cannot move '{from}': it is not there.");
        throw new IOException($"cannot move '{from}' to '{to}': {OpenAt2.ErrorText(errno)}", errno);
    }

    /// <summary>
    /// Gives the entry itself (a link stays a link: AT_SYMLINK_NOFOLLOW) to <paramref name="uid"/>:<paramref name="gid"/>,
    /// relative to its folder; 0 or -errno.
    /// </summary>
    public int ChangeOwner(int uid, int gid) => DirectoryCalls.ChangeOwner(ParentFd, NameBytes, uid, gid);

    /// <summary>
    /// Makes the entry a folder with exactly <paramref name="mode"/> (umask aside): mkdirat relative to its
    /// folder, then the folder opened without following a link (O_NOFOLLOW|O_DIRECTORY) and fchmod-ed
    /// through that descriptor. A folder already there is kept and given the mode; a link (the store's
    /// owner may plant one where root is about to make a folder, to have root chmod /etc 1777) or a file
    /// is refused with StoreEntryUnsafe, nothing changed.
    /// </summary>
    public void MakeFolder(UnixFileMode mode)
    {
        if (OpenAt2.mkdirat(ParentFd, Name, 0b111_000_000) != 0 && Marshal.GetLastPInvokeError() is var made && made != OpenAt2.EEXIST)
            throw new IOException($"cannot make the folder '{Path}': {OpenAt2.ErrorText(made)}", made);
        var fd = OpenAt2.openat(ParentFd, Name, OpenAt2.O_RDONLY | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW | OpenAt2.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is OpenAt2.ELOOP or OpenAt2.ENOTDIR)
                throw SandboxErrors.StoreEntryUnsafe(Path, "make a folder at", $"a link or a file stands there ({OpenAt2.ErrorText(errno)}).");
            throw new IOException($"cannot open the folder '{Path}': {OpenAt2.ErrorText(errno)}", errno);
        }
        try
        {
            if (OpenAt2.fchmod(fd, (uint)mode) != 0)
                throw new IOException($"cannot set the mode of '{Path}': {OpenAt2.ErrorText(Marshal.GetLastPInvokeError())}");
        }
        finally { OpenAt2.close(fd); }
    }

    /// <summary>
    /// <see cref="MakeFolder"/> for <paramref name="path"/> inside <paramref name="storeFolder"/>, its folder
    /// reached beneath the store (see the class). Throws StoreEntryUnsafe for a link on the way.
    /// </summary>
    public static void MakeFolder(string path, UnixFileMode mode, string storeFolder)
    {
        using var entry = OpenParentBeneath(path, storeFolder, (where, problem) => SandboxErrors.StoreEntryUnsafe(where, "make a folder at", problem))
            ?? throw new DirectoryNotFoundException($"cannot make the folder '{path}': its parent is not there.");
        entry.MakeFolder(mode);
    }

    /// <summary>
    /// Takes the bits <paramref name="groupAndOthers"/> away from <paramref name="path"/> itself, a folder
    /// or file of the store (or its root): reached beneath the store root (the root itself through
    /// <see cref="StoreRootGuard.OpenRoot"/>, which accepts only the folder the guard checked), opened
    /// O_PATH|O_NOFOLLOW, and chmod-ed through that descriptor's /proc name, never by path: the mode read at
    /// the check is not applied to whatever a link swapped in since leads to (under sudo the caller could
    /// have root chmod /usr 0700). A link or a missing entry is left alone, as a link always was.
    /// False when <paramref name="path"/> is in no store (the caller tightens by path).
    /// </summary>
    public static bool Tighten(string path, uint groupAndOthers)
    {
        var full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path));
        if (StoreRootOf(full) is not { } root) return false;
        if (full == root)
        {
            var rootFd = StoreRootGuard.OpenRoot(root);
            if (rootFd >= 0) TightenHeld(rootFd, groupAndOthers);
            return true;
        }
        using var entry = OpenParentBeneath(full, root, (where, problem) => SandboxErrors.StoreEntryUnsafe(where, "tighten the mode of", problem));
        if (entry is null) return true;
        var fd = OpenAt2.openat(entry.ParentFd, entry.Name, OpenAt2.O_PATH | OpenAt2.O_NOFOLLOW | OpenAt2.O_CLOEXEC, 0);
        if (fd >= 0) TightenHeld(fd, groupAndOthers);
        return true;
    }

    /// <summary>chmod through the descriptor (an O_PATH one has no fchmod; its /proc name leads to its very inode), then closes it.</summary>
    private static void TightenHeld(int fd, uint groupAndOthers)
    {
        try
        {
            if (FileStatus.OfDescriptor(fd) is not { IsSymbolicLink: false } status || (status.Permissions & groupAndOthers) == 0) return;
            // Someone else's store cannot be changed by us; it stays as its owner left it.
            try { File.SetUnixFileMode(DescriptorPath.Of(fd), (UnixFileMode)(status.Permissions & ~groupAndOthers)); }
            catch (UnauthorizedAccessException) { }
        }
        finally { OpenAt2.close(fd); }
    }

    public void Dispose()
    {
        if (ParentFd >= 0) OpenAt2.close(ParentFd);
        ParentFd = -1;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);
}
