using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Sandboxes;

/// <summary>
/// Sandbox state folders: <c>sandboxes/&lt;id&gt;/state.json</c> plus whatever the provider keeps
/// there. state.json is written by rename so a reader never sees half a file, and a folder without
/// it is a creation that died half-way (never listed, reaped with the orphans). A removal takes the
/// whole folder away in one rename (<see cref="StoreTrash"/>), so no other process ever sees a
/// sandbox half deleted.
/// </summary>
internal sealed class SandboxStore
{
    private const string StateFile = "state.json";
    private const long MaxStateBytes = 4 << 20; // environment values and mounts included, far beyond any real one
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private readonly StoreLayout _layout;
    private readonly StoreTrash _trash;
    private readonly SandboxNames _names;

    /// <summary>Opening a store tightens the folders an older version left world-readable.</summary>
    public SandboxStore(StoreLayout layout, IEngineLog? log = null)
    {
        _layout = layout;
        _trash = new StoreTrash(layout, log ?? NullEngineLog.Instance);
        _names = new SandboxNames(layout, id => Load(_layout.SandboxFolder(id)), List);
        _layout.TightenIfPresent();
    }

    private string NamesLockFile => _layout.LockFile("sandbox", "names");

    public static string NewId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();

    /// <summary>The shape of <see cref="NewId"/>: 12 lowercase hex digits (never a path).</summary>
    private static bool LooksLikeId(string text) => text.Length == 12 && text.All(char.IsAsciiHexDigitLower);

    /// <summary>Creates the state folder and its state.json; the name must be free.</summary>
    public SandboxInfo Create(SandboxInfo sandbox)
    {
        _layout.EnsureCreated();
        using var namesLock = FileLock.Acquire(NamesLockFile);
        if (_names.IsTaken(sandbox.Name)) throw SandboxErrors.SandboxNameTaken(sandbox.Name);
        StoreSpace.Write(_layout, () => _names.Claim(sandbox.Name, sandbox.Id));
        var folder = _layout.SandboxFolder(sandbox.Id);
        // 0700: the layer below holds whatever the sandbox wrote (setuid files too), state.json its secrets.
        PrivateFiles.EnsureFolder(folder);
        try
        {
            Save(sandbox, folder);
            // The totals file made now, while the store has room: each command then rewrites it in place.
            StoreSpace.Write(_layout, () => new CommandTotals(0, TimeSpan.Zero, TimeSpan.Zero, 0).TryWrite(_layout.Root, folder));
        }
        catch (SandboxException)
        {
            SafeTreeRemover.Remove(folder, _layout.SandboxesFolder); // a full store: leave no half-made sandbox
            _names.Release(sandbox.Name, sandbox.Id);
            throw;
        }
        return Load(folder)!;
    }

    public IReadOnlyList<SandboxInfo> List()
    {
        if (!Directory.Exists(_layout.SandboxesFolder)) return Array.Empty<SandboxInfo>();
        return Directory.EnumerateDirectories(_layout.SandboxesFolder)
            .Select(Load)
            .OfType<SandboxInfo>()
            .OrderBy(sandbox => sandbox.Created)
            .ToList();
    }

    /// <summary>
    /// State folders that never got a state.json: creations interrupted half-way, made more than
    /// <paramref name="olderThan"/> ago. A folder gone by the time it is looked at (another process
    /// removed its sandbox) is none: its age would read as the year 1601.
    /// </summary>
    public IReadOnlyList<string> ListIncomplete(TimeSpan olderThan) =>
        !Directory.Exists(_layout.SandboxesFolder)
            ? Array.Empty<string>()
            : Directory.EnumerateDirectories(_layout.SandboxesFolder)
                .Where(folder => LooksLikeId(Path.GetFileName(folder))) // only what a creation names; never a folder a swapped link shows
                .Where(folder => !File.Exists(Path.Combine(folder, StateFile)))
                .Where(folder => AgeOf(folder) > olderThan)
                .ToList();

    /// <summary>How long ago the folder was made; null when it is not there (any more).</summary>
    internal static TimeSpan? AgeOf(string folder)
    {
        var info = new DirectoryInfo(folder);
        return info.Exists ? DateTime.UtcNow - info.CreationTimeUtc : null;
    }

    /// <summary>
    /// By id first (ids are unique), then by name. An id is its folder's name, so a sandbox named
    /// by id is read alone, whatever else the store holds: what every Invoke of a held sandbox
    /// and every command's totals do, which must not grow with the number of sandboxes.
    /// </summary>
    public SandboxInfo Get(string nameOrId)
    {
        if (LooksLikeId(nameOrId) && Load(_layout.SandboxFolder(nameOrId)) is { } byId && byId.Id == nameOrId) return byId;
        var sandboxes = List();
        return sandboxes.FirstOrDefault(s => s.Id == nameOrId) ?? sandboxes.FirstOrDefault(s => s.Name == nameOrId)
            ?? throw SandboxErrors.SandboxNotFound(nameOrId);
    }

    /// <summary>
    /// Adds one command's figures to the sandbox's totals, safely against concurrent commands, and
    /// gives <paramref name="sandbox"/> (the object the caller holds) the totals just written, so
    /// that nobody reads them back from the store after every command.
    /// </summary>
    public void RecordCommand(SandboxInfo sandbox, ProcessOutcome outcome)
    {
        using var stateLock = FileLock.Acquire(_layout.LockFile("sandbox", sandbox.Id));
        var current = Load(sandbox.StatePath);
        if (current is null) return; // removed meanwhile
        current.CommandsRun++;
        current.UserCpu += outcome.UserCpu;
        current.SystemCpu += outcome.SystemCpu;
        current.PeakMemoryBytes = Math.Max(current.PeakMemoryBytes, outcome.PeakMemoryBytes);
        // In place (see CommandTotals); state.json by rename only if the totals file cannot be used.
        var totals = new CommandTotals(current.CommandsRun, current.UserCpu, current.SystemCpu, current.PeakMemoryBytes);
        if (!StoreSpace.Write(_layout, () => totals.TryWrite(_layout.Root, sandbox.StatePath))) Save(current, sandbox.StatePath);
        sandbox.CommandsRun = current.CommandsRun;
        sandbox.UserCpu = current.UserCpu;
        sandbox.SystemCpu = current.SystemCpu;
        sandbox.PeakMemoryBytes = current.PeakMemoryBytes;
    }

    /// <summary>
    /// Deletes the state folder (the provider has torn down its processes; a root Bubblewrap overlay
    /// may still be mounted at merged/, which the trash detaches): moved to the
    /// trash in one rename and deleted there in the background, and the sandbox's name released
    /// (<paramref name="sandbox"/>: what it was made as; none for a creation that died before its
    /// state was written). False when there was nothing to delete (another process removed it first).
    /// </summary>
    public bool Delete(string folder, SandboxInfo? sandbox = null)
    {
        var existed = Directory.Exists(folder);
        // The sandbox's own overlay is detached by the trash's background deletion (see
        // OverlayUnmountInTrash); whatever else is mounted below is undone now, or refused.
        if (existed && !Providers.OverlayUnmountInTrash.Applies(folder))
            SafeTreeRemover.UnmountBelow(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        if (!_trash.Discard(folder))
        {
            // No room for the move (a full trash/ folder): in place, state.json first, so a removal
            // that dies half-way leaves an incomplete folder, not a sandbox. Not for root under sudo:
            // this deletion goes by path, and the store's folders are the caller's to swap for links.
            if (Native.SudoCaller.Current is not null) throw SandboxErrors.StoreFull(_layout.Root, new IOException("no room to move the sandbox to the trash"));
            var state = Path.Combine(folder, StateFile);
            if (File.Exists(state)) File.Delete(state);
            SafeTreeRemover.Remove(folder, _layout.SandboxesFolder);
        }
        var lockFile = _layout.LockFile("sandbox", Path.GetFileName(folder));
        if (File.Exists(lockFile)) File.Delete(lockFile);
        if (sandbox is not null)
        {
            using var namesLock = FileLock.Acquire(NamesLockFile);
            _names.Release(sandbox.Name, sandbox.Id);
        }
        return existed;
    }

    /// <summary>
    /// Deletes what removals killed before they finished left in the trash, and the name claims no
    /// sandbox holds any more (SandboxNames.CollectStale), under the names lock.
    /// </summary>
    public void SweepTrash()
    {
        _trash.Sweep();
        if (!Directory.Exists(_names.Folder)) return;
        using var namesLock = FileLock.Acquire(NamesLockFile);
        _names.CollectStale();
    }

    private SandboxInfo? Load(string folder)
    {
        var state = Path.Combine(folder, StateFile);
        SandboxInfo? sandbox;
        // Read as a file a sandbox's owner could have replaced (under sudo the folder is the calling
        // user's): a link, a FIFO or a device would be followed, block or never end; it reads as none.
        try { sandbox = UntrustedFile.ReadRegular(state, MaxStateBytes) is { } bytes ? JsonSerializer.Deserialize<SandboxInfo>(bytes, Json) : null; }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (JsonException) { return null; }
        if (sandbox is null) return null;
        if (CommandTotals.Read(folder) is { } totals && totals.CommandsRun >= sandbox.CommandsRun)
            (sandbox.CommandsRun, sandbox.UserCpu, sandbox.SystemCpu, sandbox.PeakMemoryBytes) =
                (totals.CommandsRun, totals.UserCpu, totals.SystemCpu, totals.PeakMemoryBytes);
        sandbox.StatePath = folder;
        sandbox.ImageRootFs = Path.Combine(_layout.ImageFolder(sandbox.Image), "rootfs");
        // Its own recorded chain, never the image name's current one (which a rebuild may have changed).
        sandbox.LowerLayers = sandbox.Layers.Count == 0
            ? new[] { sandbox.ImageRootFs }
            : sandbox.Layers.Select(id => Path.Combine(_layout.Root, Images.Layers.LayerStore.RelativeTree(id))).ToList();
        sandbox.StoreRoot = _layout.Root;
        return sandbox;
    }

    /// <summary>
    /// Writes state.json (0600: it holds the sandbox's environment values) by rename; a full
    /// filesystem is StoreFull, and the previous state.json stays whole. Made through a descriptor of
    /// the state folder reached from the store root without links (<see cref="StateFolder"/>): under
    /// sudo the folder is the caller's, who could swap it for a link to one of root's folders.
    /// </summary>
    private void Save(SandboxInfo sandbox, string folder)
    {
        const string temporary = StateFile + ".tmp";
        var json = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(sandbox, Json));
        var dir = StateFolder.Open(_layout.Root, folder);
        if (dir < 0) throw new IOException($"{folder} is not a folder of the store {_layout.Root} reached without links; its state was not written.");
        try
        {
            Native.OpenAt2.unlinkat(dir, temporary, 0);
            var fd = Native.OpenAt2.openat(dir, temporary,
                Native.OpenAt2.O_WRONLY | Native.OpenAt2.O_CREAT | Native.OpenAt2.O_EXCL | Native.OpenAt2.O_NOFOLLOW | Native.OpenAt2.O_CLOEXEC,
                0b110_000_000);
            if (fd < 0)
            {
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                throw new IOException($"creating {Path.Combine(folder, temporary)} failed: {Native.LibC.ErrorText(errno)}", errno);
            }
            if (Native.SudoCaller.Current is { } sudo) Native.OpenAt2.fchown(fd, (uint)sudo.Uid, (uint)sudo.Gid);
            try
            {
                using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, bufferSize: 0);
                stream.Write(json);
            }
            catch (IOException e) when (StoreSpace.IsOutOfSpace(e))
            {
                Native.OpenAt2.unlinkat(dir, temporary, 0);
                throw SandboxErrors.StoreFull(_layout.Root, e);
            }
            if (StateFolder.Rename(dir, temporary, StateFile) != 0)
            {
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                throw new IOException($"renaming {temporary} to {StateFile} in {folder} failed: {Native.LibC.ErrorText(errno)}", errno);
            }
        }
        finally
        {
            Native.OpenAt2.close(dir);
        }
    }
}
