using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Sandboxes;

/// <summary>
/// Which sandbox holds a name, without reading every sandbox's state: <c>names/KEY</c> (KEY: the
/// first 32 hex digits of the name's SHA-256) holds the id of the sandbox that claimed the name.
/// Checking a name then costs two small reads however many sandboxes the store holds (reading them
/// all made each Enter cost about 0.2 ms more per sandbox kept, under the store-wide names lock that
/// parallel Enters queue on).
/// A claim is a hint, checked against the named sandbox's own state.json: one whose sandbox is gone
/// or now has another name (a removal that died before releasing it) leaves the name free. A claim is
/// made under the names lock before the state folder, so every sandbox made since claims have existed
/// has one; a store from before (no <c>names/</c>) is claimed in full once, under the same lock, in a
/// folder of its own renamed into place when complete (a claiming that dies half-way leaves none).
/// Every claim is read, written (whole: truncated to the id) and deleted through descriptors reached
/// from the store root without links (<see cref="StoreRootGuard.OpenRoot"/>, RESOLVE_BENEATH|NO_SYMLINKS),
/// the one-time claiming's folder made and renamed the same way: under sudo the store is the calling
/// user's, who could swap a folder for a link into one of root's. Claims whose sandbox is gone are
/// collected where the store is swept (<see cref="CollectStale"/>).
/// </summary>
internal sealed class SandboxNames
{
    public const string FolderName = "names";
    private const string StagingName = "names-new";
    private const int IdLength = 12;

    private readonly StoreLayout _layout;
    private readonly Func<string, SandboxInfo?> _loadById;
    private readonly Func<IEnumerable<SandboxInfo>> _listAll;

    public SandboxNames(StoreLayout layout, Func<string, SandboxInfo?> loadById, Func<IEnumerable<SandboxInfo>> listAll)
    {
        _layout = layout;
        _loadById = loadById;
        _listAll = listAll;
    }

    public string Folder => Path.Combine(_layout.Root, FolderName);

    /// <summary>The claim file's name for <paramref name="name"/> (any text; never a path).</summary>
    internal static string KeyOf(string name) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..32].ToLowerInvariant();

    /// <summary>True when a sandbox of the store has this name. Call with the names lock held.</summary>
    public bool IsTaken(string name)
    {
        using var root = StoreRootHandle.Open(_layout.Root);
        var names = OpenTopFolder(root.Fd, FolderName, create: false);
        if (names == -OpenAt2.ENOENT)
        {
            ClaimExisting(root.Fd);
            names = OpenTopFolder(root.Fd, FolderName, create: false);
        }
        if (names < 0) throw Unusable(FolderName, names);
        try
        {
            return ReadClaim(names, KeyOf(name)) is { } id && HeldBy(id) is { } holder && holder.Name == name;
        }
        finally { OpenAt2.close(names); }
    }

    /// <summary>Records that sandbox <paramref name="id"/> holds <paramref name="name"/>. Call with the names lock held.</summary>
    public void Claim(string name, string id)
    {
        if (!LooksLikeId(id)) throw new ArgumentException($"'{id}' is not a sandbox id.", nameof(id));
        using var root = StoreRootHandle.Open(_layout.Root);
        var names = OpenTopFolder(root.Fd, FolderName, create: true);
        if (names < 0) throw Unusable(FolderName, names);
        try { Write(names, name, id); }
        finally { OpenAt2.close(names); }
    }

    private void Write(int folder, string name, string id)
    {
        var key = KeyOf(name);
        var file = StateFolder.OpenOwnFile(folder, key, sudoCallersToo: true);
        if (file < 0)
        {
            // Not a plain file of ours (a link, a FIFO, a hard link planted there): replaced.
            OpenAt2.unlinkat(folder, key, 0);
            file = StateFolder.OpenOwnFile(folder, key, sudoCallersToo: true);
        }
        if (file < 0) throw new IOException($"The claim of sandbox name '{name}' ({Path.Combine(Folder, key)}) could not be written.");
        try
        {
            var bytes = Encoding.ASCII.GetBytes(id);
            StateFolder.WriteWhole(file, bytes, $"the claim of sandbox name '{name}'");
            // Whole: a longer file that was there (planted, or cut short by a crash mid-write) keeps no tail
            // that would make the claim unreadable, and the name look free while its sandbox lives.
            if (OpenAt2.ftruncate(file, bytes.Length) != 0)
                throw new IOException($"truncating the claim of sandbox name '{name}' failed: {OpenAt2.ErrorText(Marshal.GetLastPInvokeError())}");
        }
        finally { OpenAt2.close(file); }
    }

    /// <summary>
    /// Drops the claim of <paramref name="name"/> if it is still sandbox <paramref name="id"/>'s. Call with
    /// the names lock held: a creation may claim the name anew as soon as the sandbox's state is gone.
    /// </summary>
    public void Release(string name, string id)
    {
        if (!Directory.Exists(_layout.Root)) return; // no store, so no claim to release
        using var root = StoreRootHandle.Open(_layout.Root);
        var names = OpenTopFolder(root.Fd, FolderName, create: false);
        if (names < 0) return;
        try
        {
            var key = KeyOf(name);
            if (ReadClaim(names, key) == id) OpenAt2.unlinkat(names, key, 0);
        }
        finally { OpenAt2.close(names); }
    }

    /// <summary>
    /// Deletes every claim that no sandbox holds any more: its sandbox gone or named otherwise (a removal
    /// or creation that died before it released the name), or not a claim at all (an empty file a full
    /// store left, a link or FIFO planted there). Unlinked relative to the folder's descriptor, never
    /// followed. Returns how many. Call with the names lock held: a claim is then never half made.
    /// </summary>
    public int CollectStale()
    {
        using var root = StoreRootHandle.Open(_layout.Root);
        var names = OpenTopFolder(root.Fd, FolderName, create: false);
        if (names < 0) return 0;
        try
        {
            var collected = 0;
            foreach (var entry in DirectoryCalls.ReadNames(names, out _).Select(DirectoryCalls.Text))
            {
                if (entry.Length != KeyLength || !entry.All(char.IsAsciiHexDigitLower)) continue; // not a claim's name: not ours to judge
                // Only a definite answer frees a name: not a claim at all (a link, FIFO or a file of
                // another length), the claim's sandbox folder gone, or its state saying another name.
                // A claim that cannot be read now (out of descriptors) or whose sandbox cannot be
                // loaded (a state too big, a newer version's) is kept.
                if (DirectoryCalls.StatName(names, DirectoryCalls.Bytes(entry)) is not { } status) continue;
                if (!status.IsRegularFile || status.Size != IdLength)
                {
                    if (OpenAt2.unlinkat(names, entry, 0) == 0) collected++;
                    continue;
                }
                if (ReadClaim(names, entry) is not { } id) continue;
                var gone = FileStatus.Of(_layout.SandboxFolder(id)) is null;
                if (!gone && !(HeldBy(id) is { } holder && KeyOf(holder.Name) != entry)) continue;
                if (OpenAt2.unlinkat(names, entry, 0) == 0) collected++;
            }
            return collected;
        }
        finally { OpenAt2.close(names); }
    }

    /// <summary>
    /// A store made before claims existed: every sandbox it holds claims its name, in <c>names-new/</c>,
    /// renamed to <c>names/</c> when complete (a claiming that died leaves its folder, deleted here first).
    /// Made, filled and renamed through descriptors beneath the store root.
    /// </summary>
    private void ClaimExisting(int root)
    {
        var staging = Path.Combine(_layout.Root, StagingName);
        if (DirectoryCalls.StatName(root, DirectoryCalls.Bytes(StagingName)) is not null)
            SafeTreeRemover.RemoveEntry(root, _layout.Root, StagingName); // a claiming that died (or whatever stands there)
        var folder = OpenTopFolder(root, StagingName, create: true);
        if (folder < 0) throw Unusable(StagingName, folder);
        try
        {
            foreach (var sandbox in _listAll()) Write(folder, sandbox.Name, sandbox.Id);
        }
        finally { OpenAt2.close(folder); }
        if (OpenAt2.renameat(root, StagingName, root, FolderName) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"renaming {staging} to {Folder} failed: {OpenAt2.ErrorText(errno)}", errno);
        }
    }

    private const ulong Beneath = OpenAt2.RESOLVE_BENEATH | OpenAt2.RESOLVE_NO_SYMLINKS | OpenAt2.RESOLVE_NO_MAGICLINKS;
    private const int KeyLength = 32;

    /// <summary>
    /// The folder <paramref name="name"/> right under the store root (O_RDONLY: listed by the collection),
    /// reached without links; with <paramref name="create"/> made 0700 when missing, and under sudo handed
    /// to the caller by its descriptor. -errno on failure (-ENOENT: missing).
    /// </summary>
    private static int OpenTopFolder(int root, string name, bool create)
    {
        var flags = OpenAt2.O_RDONLY | OpenAt2.O_DIRECTORY;
        var fd = OpenAt2.Open(root, name, flags, Beneath);
        if (fd != -OpenAt2.ENOENT || !create) return fd;
        var made = OpenAt2.mkdirat(root, name, 0b111_000_000) == 0;
        fd = OpenAt2.Open(root, name, flags, Beneath);
        if (made && fd >= 0 && SudoCaller.Current is { } sudo) OpenAt2.fchown(fd, (uint)sudo.Uid, (uint)sudo.Gid);
        return fd;
    }

    /// <summary>
    /// The id a claim holds: exactly <see cref="IdLength"/> lowercase hex digits in a regular file,
    /// opened without following a link and without blocking on a FIFO; null for anything else.
    /// </summary>
    private static unsafe string? ReadClaim(int folder, string key)
    {
        var fd = OpenAt2.openat(folder, key, OpenAt2.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenAt2.O_NONBLOCK | OpenAt2.O_CLOEXEC, 0);
        if (fd < 0) return null;
        try
        {
            if (OpenAt2.StatOf(fd) is not { IsRegularFile: true, Size: IdLength }) return null;
            var buffer = stackalloc byte[IdLength + 1];
            var n = OpenAt2.read(fd, buffer, IdLength + 1);
            if (n != IdLength) return null;
            var id = Encoding.ASCII.GetString(buffer, IdLength);
            return LooksLikeId(id) ? id : null;
        }
        finally { OpenAt2.close(fd); }
    }

    /// <summary>The sandbox whose state says it is <paramref name="id"/>; null when there is none.</summary>
    private SandboxInfo? HeldBy(string id) => _loadById(id) is { } holder && holder.Id == id ? holder : null;

    private static bool LooksLikeId(string id) => id.Length == IdLength && id.All(char.IsAsciiHexDigitLower);

    private IOException Unusable(string folder, int errno) =>
        new($"{Path.Combine(_layout.Root, folder)} is not a folder of the store {_layout.Root} reached without links ({OpenAt2.ErrorText(-errno)}).");
}
