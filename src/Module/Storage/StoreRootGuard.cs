using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Sandbox.Native;

namespace Sandbox.Storage;

/// <summary>
/// Refuses a store that someone else could control, before anything is read from it or written to it
/// (the "safe path" check of ssh's StrictModes and sudo). A store root made by another user (a
/// folder in /tmp, a planted ~/.local/share/sandbox) lets that user plant images, state.json and
/// links that steer where the engine, maybe as root, creates, chowns and deletes; a folder on the
/// way to it that others may write lets them rename the store away and put theirs in its place.
///
/// So, walking the path as the kernel resolves it (links on the way are followed, each one read
/// from a folder already found safe and owned by the store's owner or root, as the kernel's
/// protected_symlinks rule but always: a link's owner can re-point it, sticky folder or not): every
/// folder from / down must be owned by the store's owner or root and not writable by others (nor by
/// a group anyone else is in, nor by a named user or group of its POSIX ACL, see <see cref="PosixAcl"/>)
/// unless sticky; the store root itself must not be a link, must be owned by the store's owner (or
/// root, when the engine is root) and writable by nobody else (mode, access or default ACL), sticky or not, and
/// every name the store uses at its top (<see cref="StoreLayout.TopLevelFolders"/>) must be the owner's folder, not a link. Once every folder on the way is safe, nobody
/// but root and the owner can change what the path names, so the checked path stays the used path.
/// A part of the path that does not exist yet is fine for now: StoreLayout checks again once it made it.
/// </summary>
internal static partial class StoreRootGuard
{
    private const uint GroupWrite = 0b000_010_000;
    private const uint OtherWrite = 0b000_000_010;
    private const uint Sticky = 0b001_000_000_000;
    private const int MaxLinks = 40; // the kernel's own limit on links in one lookup

    /// <summary>
    /// The user whose store it is: the sudo caller under sudo, else the effective user. Root is
    /// trusted too (it owns / and can do anything anyway).
    /// </summary>
    public static uint StoreOwner => SudoCaller.Current is { } sudo ? (uint)sudo.Uid : UserIdentity.EffectiveUid;

    /// <summary>
    /// Throws StoreNotOwned or StorePathUnsafe unless only the store's owner (and root) can change the store.
    /// Returns what it read of the store: the root's status and its top-level folders' (by path), none when the root does not exist yet.
    /// </summary>
    public static IReadOnlyDictionary<string, FileStatus> Verify(StoreLayout layout) => Verify(layout.Root, StoreOwner, UserIdentity.IsRoot, parentsMustExist: false);

    public static void Verify(string root, uint owner, bool engineIsRoot) => Verify(root, owner, engineIsRoot, parentsMustExist: false);

    /// <summary>
    /// Verify again once the missing folders above the store root were made: in /tmp someone else may
    /// have made one of them first (or put a link there) between the first check and our mkdir, so now
    /// every folder above the root must exist and be safe; a missing one means someone removed it again.
    /// </summary>
    public static void VerifyAfterCreatingParents(StoreLayout layout) =>
        Verify(layout.Root, StoreOwner, UserIdentity.IsRoot, parentsMustExist: true);

    private static IReadOnlyDictionary<string, FileStatus> Verify(string root, uint owner, bool engineIsRoot, bool parentsMustExist)
    {
        var key = Key(root);
        // A root that fails its check, or is gone, is no longer accepted. Until then the last acceptance
        // stands: runspaces of one process (ForEach-Object -Parallel) check the store at every cmdlet, and
        // a removal at the start made a concurrent OpenRoot find none, check again, and find none again
        // when a third check had just begun ("it vanished while it was checked").
        try
        {
            return VerifyAndAccept(key, root, owner, engineIsRoot, parentsMustExist);
        }
        catch
        {
            Accepted.TryRemove(key, out _);
            throw;
        }
    }

    private static IReadOnlyDictionary<string, FileStatus> VerifyAndAccept(string key, string root, uint owner, bool engineIsRoot, bool parentsMustExist)
    {
        var seen = new Dictionary<string, FileStatus>(StringComparer.Ordinal);
        var resolved = FolderOnTheWay(root, owner, parentsMustExist);
        if (resolved is null)
        {
            Accepted.TryRemove(key, out _);
            return seen; // not made yet: it will be made inside a folder found safe
        }
        var status = OpenedStatus(root, resolved);
        seen[root] = status;
        RequireOwned(root, root, status, owner, engineIsRoot);
        if ((status.Permissions & OtherWrite) != 0 || ((status.Permissions & GroupWrite) != 0 && !PrivateGroup(status.Gid, owner)))
            throw SandboxErrors.StoreNotOwned(root, $"is writable by users other than its owner (mode {Octal(status.Permissions)})",
                OwnerName(owner));
        // An ACL can let others in whatever the mode says (its group bits are only the ACL's mask); a default
        // ACL would hand named users write on every folder made in the store.
        foreach (var acl in new[] { PosixAcl.Access, PosixAcl.Default })
            if (PosixAcl.NamedWriter(resolved, acl) is { } writer)
                throw SandboxErrors.StoreNotOwned(root, $"{writer} ({acl})", OwnerName(owner));
        // What is inside was made by the owner, unless the root was once open: check every folder the store uses.
        foreach (var folder in StoreLayout.TopLevelFolders)
        {
            if (FileStatus.Of(Path.Combine(resolved, folder)) is not { } inner) continue;
            if (inner.IsSymbolicLink)
                throw SandboxErrors.StoreNotOwned(root, $"holds a link {folder} -> {LinkTarget(Path.Combine(resolved, folder))}", OwnerName(owner));
            RequireOwned(root, Path.Combine(root, folder), inner, owner, engineIsRoot);
            seen[Path.Combine(root, folder)] = inner;
        }
        Accepted[key] = Identity.Of(status);
        Checked[key] = true;
        return seen;
    }

    /// <summary>Every store root this process ever accepted; never shrinks (unlike <see cref="Accepted"/>, which a check in progress empties).</summary>
    private static readonly ConcurrentDictionary<string, bool> Checked = new(StringComparer.Ordinal);

    /// <summary>
    /// The deepest store root this process accepted that holds <paramref name="path"/> (or is it), or null:
    /// the folder to open with <see cref="OpenRoot"/> to reach <paramref name="path"/> beneath it (StoreEntry).
    /// </summary>
    public static string? CheckedRootOf(string path)
    {
        var full = Key(path);
        string? best = null;
        foreach (var root in Checked.Keys)
            if ((full == root || full.StartsWith(root + "/", StringComparison.Ordinal)) && (best is null || root.Length > best.Length))
                best = root;
        return best;
    }

    /// <summary>Which folder (device and inode) each store root path was when Verify last accepted it.</summary>
    private static readonly ConcurrentDictionary<string, Identity> Accepted = new(StringComparer.Ordinal);

    private readonly record struct Identity(uint Major, uint Minor, ulong Inode)
    {
        public static Identity Of(FileStatus status) => new(status.DeviceMajor, status.DeviceMinor, status.Inode);
    }

    private static string Key(string root) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));

    /// <summary>
    /// The store root as an O_PATH descriptor, the start of every *at call made beneath it (the trash,
    /// state folders, name claims), or -errno when nothing is there to open. Opened without following a
    /// link (O_NOFOLLOW|O_DIRECTORY), and only if it is the very folder (device and inode) that
    /// <see cref="Verify(StoreLayout)"/> last accepted at that path; a root not checked yet by this
    /// process is checked now. Under sudo the folders above the store are the caller's: between the
    /// check and the use they could put a link there, or rename another store (root's own) into its
    /// place, and have root move, write and delete in it. Such a root is StoreRootChanged.
    /// </summary>
    public static int OpenRoot(string root)
    {
        var key = Key(root);
        var fd = OpenAt2.Open(-100 /* AT_FDCWD */, key, OpenAt2.O_PATH | OpenAt2.O_DIRECTORY | OpenAt2.O_NOFOLLOW, 0);
        // A link at the end gives ENOTDIR with O_PATH (the link itself is opened, and it is no folder), ELOOP without.
        if (fd == -ELOOP || fd == -ENOTDIR)
            throw SandboxErrors.StoreRootChanged(key, FileStatus.Of(key) is { IsSymbolicLink: true }
                ? $"a link (to {LinkTarget(key)}) now stands at its path" : "something other than a folder now stands at its path");
        if (fd < 0) return fd;
        try
        {
            if (OpenAt2.StatOf(fd) is not { } status) throw SandboxErrors.StoreRootChanged(key, "it cannot be examined (statx failed)");
            if (!Accepted.TryGetValue(key, out var accepted))
            {
                // First use in this process (or the root was made after its check): check it now. What
                // was opened must then be what the check saw.
                Verify(key, StoreOwner, UserIdentity.IsRoot);
                if (!Accepted.TryGetValue(key, out accepted)) throw SandboxErrors.StoreRootChanged(key, "it vanished while it was checked");
            }
            if (Identity.Of(status) != accepted)
                throw SandboxErrors.StoreRootChanged(key, "another folder now stands at its path (its device and inode changed since it was checked)");
            var opened = fd;
            fd = -1;
            return opened;
        }
        finally
        {
            if (fd >= 0) OpenAt2.close(fd);
        }
    }

    /// <summary>
    /// Walks the folders above the store root, following links as the kernel would, and checks each.
    /// Returns where the store root really is, or null when some folder on the way does not exist.
    /// </summary>
    private static string? FolderOnTheWay(string root, uint owner, bool parentsMustExist)
    {
        var pending = new Stack<string>(Segments(root).Reverse());
        var current = "/";
        if (FileStatus.Of(current) is { } top) RequireSafeParent(root, current, top, owner);
        var links = 0;
        while (pending.Count > 0)
        {
            var name = pending.Pop();
            if (name == ".") continue;
            if (name == "..") { current = Path.GetDirectoryName(current) ?? "/"; continue; } // already checked
            var next = Path.Join(current, name);
            if (pending.Count == 0) return FileStatus.Of(next) is null ? null : next; // the root: checked by its caller
            if (FileStatus.Of(next) is not { } status)
            {
                if (parentsMustExist) throw SandboxErrors.StorePathUnsafe(root, next, "vanished right after it was made", OwnerName(owner));
                return null;
            }
            if (status.IsSymbolicLink)
            {
                // Whoever owns a link can point it elsewhere at any moment, whatever folder it sits in
                // (a sticky /tmp only stops others renaming it; fs.protected_symlinks may be off): the
                // kernel's protected_symlinks rule, always.
                if (status.Uid != 0 && status.Uid != owner)
                    throw SandboxErrors.StorePathUnsafe(root, next, $"is a link (to {LinkTarget(next)}) that belongs to {UserName(status.Uid)}, who can point it anywhere",
                        OwnerName(owner));
                if (++links > MaxLinks) throw SandboxErrors.StorePathUnsafe(root, next, "leads through too many links", OwnerName(owner));
                var target = LinkTarget(next);
                if (target.StartsWith('/')) current = "/";
                foreach (var segment in Segments(target).Reverse()) pending.Push(segment);
                continue;
            }
            RequireSafeParent(root, next, status, owner); // the status just read: one stat per folder
            current = next;
        }
        return null; // "/" itself as the store: StoreLayout never gets here (it needs a name)
    }

    private static void RequireSafeParent(string root, string folder, FileStatus status, uint owner)
    {
        if (status.Uid != 0 && status.Uid != owner)
            throw SandboxErrors.StorePathUnsafe(root, folder, $"belongs to {UserName(status.Uid)}", OwnerName(owner));
        if ((status.Permissions & Sticky) != 0) return; // others may write, but not rename what is not theirs
        if ((status.Permissions & OtherWrite) != 0 || ((status.Permissions & GroupWrite) != 0 && !PrivateGroup(status.Gid, owner)))
            throw SandboxErrors.StorePathUnsafe(root, folder,
                $"may be written by users other than its owner (mode {Octal(status.Permissions)}, no sticky bit)", OwnerName(owner));
        if (PosixAcl.NamedWriter(folder, PosixAcl.Access) is { } writer)
            throw SandboxErrors.StorePathUnsafe(root, folder, $"{writer} (no sticky bit)", OwnerName(owner));
    }

    /// <summary>
    /// A group nobody but the store's owner (and root) is in: a user private group, whose group write
    /// bit umask 002 sets on folders like ~/.local (Ubuntu) without letting anyone else in. Only local
    /// groups count (/etc/group and the primary groups of /etc/passwd); a group listed nowhere there
    /// (from LDAP, say) may have members we cannot see, so it is not private.
    /// </summary>
    private static bool PrivateGroup(uint gid, uint owner)
    {
        try
        {
            var id = gid.ToString(CultureInfo.InvariantCulture);
            var users = File.ReadLines("/etc/passwd").Select(line => line.Split(':')).Where(f => f.Length > 3).ToList();
            bool Trusted(string uid) => uid == "0" || uid == owner.ToString(CultureInfo.InvariantCulture);
            if (users.Any(f => f[3] == id && !Trusted(f[2]))) return false;
            var group = File.ReadLines("/etc/group").Select(line => line.Split(':')).FirstOrDefault(f => f.Length > 3 && f[2] == id);
            if (group is null) return false;
            return group[3].Split(',', StringSplitOptions.RemoveEmptyEntries)
                .All(member => users.FirstOrDefault(f => f[0] == member) is { } user && Trusted(user[2]));
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private static void RequireOwned(string root, string path, FileStatus status, uint owner, bool engineIsRoot)
    {
        if (status.Uid == owner || (engineIsRoot && status.Uid == 0)) return;
        var what = path == root ? "belongs to" : $"holds {Path.GetFileName(path)}/, which belongs to";
        throw SandboxErrors.StoreNotOwned(root, $"{what} {UserName(status.Uid)}", OwnerName(owner));
    }

    /// <summary>The store root opened without following a link (O_NOFOLLOW|O_DIRECTORY), and its fstat.</summary>
    private static FileStatus OpenedStatus(string root, string resolved)
    {
        var fd = open(resolved, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ELOOP)
                throw SandboxErrors.StoreNotOwned(root, $"is a link (to {LinkTarget(resolved)}), which its folder's owner can point anywhere", OwnerName(StoreOwner));
            if (errno == ENOTDIR) throw SandboxErrors.StoreNotOwned(root, "is not a folder", OwnerName(StoreOwner));
            // Not openable for another reason (no permission): whoever owns it, it is not ours to use.
            var status = FileStatus.Of(resolved);
            throw SandboxErrors.StoreNotOwned(root,
                status is { } s ? $"belongs to {UserName(s.Uid)} and cannot be opened ({LibC.ErrorText(errno)})" : $"cannot be opened ({LibC.ErrorText(errno)})",
                OwnerName(StoreOwner));
        }
        try { return FileStatus.OfDescriptor(fd) ?? throw SandboxErrors.StoreNotOwned(root, "cannot be examined (fstat failed)", OwnerName(StoreOwner)); }
        finally { close(fd); }
    }

    private static IEnumerable<string> Segments(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    private static string LinkTarget(string link)
    {
        try { return new FileInfo(link).LinkTarget ?? "?"; }
        catch (IOException) { return "?"; }
    }

    private static string Octal(uint permissions) => "0" + Convert.ToString(permissions & 0xFFF, 8);

    private static string OwnerName(uint uid) => UserName(uid);

    /// <summary>"user NAME (uid N)", from /etc/passwd; only used to word an error.</summary>
    public static string UserName(uint uid)
    {
        var id = uid.ToString(CultureInfo.InvariantCulture);
        try
        {
            var name = File.ReadLines("/etc/passwd").Select(line => line.Split(':'))
                .FirstOrDefault(fields => fields.Length > 2 && fields[2] == id)?[0];
            return name is null ? $"uid {id}" : $"user {name} (uid {id})";
        }
        catch (IOException) { return $"uid {id}"; }
        catch (UnauthorizedAccessException) { return $"uid {id}"; }
    }

    private const int ELOOP = 40;
    private const int ENOTDIR = 20;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
