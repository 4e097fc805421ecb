using System.Globalization;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Namespaces;

/// <summary>
/// The 65536 host uids and gids a booted machine's user namespace maps its ids 0..65535 onto
/// (root inside is host uid <see cref="Base"/>, with no privilege on the host). Each machine gets
/// a range no other machine, no /etc/subuid or /etc/subgid entry and no existing user or group uses
/// (sssd's AD id mapping reaches about 2,000,200,000, inside our ranges: such a user must never be a
/// machine's root), so roots of two machines are different host users and no account's. A range is claimed host-wide by creating a file named after it in
/// <see cref="ClaimFolder"/> (O_EXCL, so two engines never take the same one), holding the path of
/// the folder that holds the claim: for a machine its machine folder (Providers.MachineFolder), which
/// only root can remove and which goes only with the machine, never the state folder, which under
/// sudo the caller can rename away to make a running machine's claim look stale. The sandbox records
/// its range in <see cref="RecordFile"/>. A claim whose holder is gone (an engine killed mid-removal,
/// a reboot) is taken over.
/// </summary>
internal sealed record BootIdRange(uint Base)
{
    public const uint Size = 65536;

    /// <summary>Ranges start here, far above account uids and the usual /etc/subuid ranges (100000 + n * 65536).</summary>
    public const uint FirstBase = 0x6000_0000;

    /// <summary>How many ranges there are: up to uid 0x7fffffff, below the ids some tools treat as negative.</summary>
    public const int Slots = (int)((0x8000_0000u - FirstBase) / Size);

    public const string ClaimFolder = "/run/sandbox/boot-id-ranges";

    /// <summary>The system's /run, where <see cref="ClaimFolder"/> is; the claims' tests give a folder of their own standing for it.</summary>
    private const string Run = "/run";

    public static string RecordFile(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, RecordName);

    /// <summary>The uid_map and gid_map lines of the machine's user namespace, as nspawn writes them (--private-users=BASE:65536).</summary>
    /// <summary>The slot this range is, counted from <see cref="FirstBase"/>.</summary>
    public int Slot => (int)((Base - FirstBase) / Size);

    public string NspawnOption => $"--private-users={Base.ToString(CultureInfo.InvariantCulture)}:{Size.ToString(CultureInfo.InvariantCulture)}";

    public static BootIdRange? Of(SandboxInfo sandbox)
    {
        var folder = OpenStateFolder(sandbox);
        if (folder < 0) return null;
        try
        {
            var fd = OpenAt2.openat(folder, RecordName, OpenFlags.O_RDONLY | OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC, 0);
            if (fd < 0) return null;
            if (FileStatus.OfDescriptor(fd) is not { IsRegularFile: true, Size: <= 32 })
            {
                OpenAt2.close(fd);
                return null;
            }
            using var reader = new StreamReader(new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1));
            return uint.TryParse(reader.ReadToEnd().Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? new BootIdRange(b) : null;
        }
        finally { OpenAt2.close(folder); }
    }

    private const string RecordName = "boot-id-range";

    /// <summary>
    /// The state folder as a descriptor: beneath the checked store root without following a link (under
    /// sudo it is the caller's, who may swap it), or, for a state folder in no store (a test's), by its path.
    /// </summary>
    private static int OpenStateFolder(SandboxInfo sandbox)
    {
        // In a store, only beneath its checked root: -1 there means a link or a swapped root, and a
        // fallback by path would write or delete the record wherever the caller's link leads.
        // A sandbox of no store (a test's folder) is opened as named.
        if (!string.IsNullOrEmpty(sandbox.StoreRoot)) return Sandboxes.StateFolder.Open(sandbox.StoreRoot, sandbox.StatePath);
        return OpenAt2.OpenRoot(sandbox.StatePath);
    }

    /// <summary>
    /// Writes the record through the state folder's descriptor: whatever stands at its name (a leftover,
    /// or a link the caller planted to have root write through it) is unlinked, never followed, and the
    /// record is made anew O_EXCL|O_NOFOLLOW.
    /// </summary>
    private static void WriteRecord(SandboxInfo sandbox, BootIdRange range)
    {
        var folder = OpenStateFolder(sandbox);
        if (folder < 0) throw SandboxErrors.SetupFailed("Nspawn", sandbox.Name, $"its state folder {sandbox.StatePath} cannot be opened beneath the store root without following a link.");
        try
        {
            OpenAt2.unlinkat(folder, RecordName, 0);
            var fd = OpenAt2.openat(folder, RecordName, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0b110_000_000);
            if (fd < 0) throw new IOException($"cannot create {RecordFile(sandbox)}: {OpenAt2.ErrorText(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}");
            using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Write);
            stream.Write(System.Text.Encoding.UTF8.GetBytes(range.Base.ToString(CultureInfo.InvariantCulture)));
        }
        finally { OpenAt2.close(folder); }
    }

    /// <summary>Claims a free range for the sandbox, held by <paramref name="holder"/> (a folder), and records it in its state folder.</summary>
    // Start at a slot derived from the sandbox's id, so concurrent claims rarely contend.
    public static BootIdRange Claim(SandboxInfo sandbox, string holder) => Claim(sandbox, holder, (int)((uint)sandbox.Id.GetHashCode() % Slots));

    /// <summary>A claim held by the sandbox's state folder itself (the claims' own tests).</summary>
    internal static BootIdRange Claim(SandboxInfo sandbox) => Claim(sandbox, sandbox.StatePath);

    /// <inheritdoc cref="Claim(SandboxInfo)"/>
    internal static BootIdRange Claim(SandboxInfo sandbox, int start) => Claim(sandbox, sandbox.StatePath, start);

    /// <summary>Claims the first free range from slot <paramref name="start"/> on (wrapping around).</summary>
    internal static BootIdRange Claim(SandboxInfo sandbox, string holder, int start) => Claim(sandbox, holder, start, Run);

    /// <summary>Claims in the claim folder below <paramref name="run"/> (<see cref="Run"/>, or a test's folder standing for it).</summary>
    internal static BootIdRange Claim(SandboxInfo sandbox, string holder, int start, string run)
    {
        var claims = OpenClaimFolder(run, create: true)!;
        var taken = SubordinateRanges().Concat(AccountIds.All().Select(id => ((long)id, 1L))).ToList();
        var range = FirstFree(start, taken, candidate => candidate.TryClaim(claims, holder))
            ?? throw SandboxErrors.BootIdRangesExhausted(claims);
        try
        {
            WriteRecord(sandbox, range);
        }
        catch
        {
            File.Delete(range.ClaimFileIn(claims)); // ours: made just now; a range nobody records is a range lost
            throw;
        }
        return range;
    }

    /// <summary>
    /// The claim folder's path once each level of it below <paramref name="run"/> is checked (and made
    /// when <paramref name="create"/>) by <see cref="RootRunFolders"/>: root's, no link, the last one 0700.
    /// Only then are claims made and deleted by path: made by Directory.CreateDirectory, a link or a
    /// folder of another user's at that name had root write and delete claim files wherever it led.
    /// Null when it is missing and not to be made.
    /// </summary>
    private static string? OpenClaimFolder(string run, bool create)
    {
        var folder = RootRunFolders.Open(run, create, SandboxErrors.BootIdClaimFolderUnusable,
            ("sandbox", RootRunFolders.Shared), ("boot-id-ranges", RootRunFolders.Private));
        if (folder < 0) return null;
        OpenAt2.close(folder);
        return run + "/sandbox/boot-id-ranges";
    }

    /// <summary>
    /// The first range from slot <paramref name="start"/> on (wrapping around) that overlaps none of
    /// <paramref name="taken"/> (subordinate ranges, and each account's id as a range of one) and that
    /// <paramref name="tryClaim"/> gets; null when none does.
    /// </summary>
    internal static BootIdRange? FirstFree(int start, IReadOnlyCollection<(long Start, long Count)> taken, Func<BootIdRange, bool> tryClaim)
    {
        for (var i = 0; i < Slots; i++)
        {
            var range = new BootIdRange(FirstBase + (uint)((start + i) % Slots) * Size);
            if (taken.Any(range.Overlaps)) continue;
            if (tryClaim(range)) return range;
        }
        return null;
    }

    /// <summary>Gives the sandbox's range back (if <paramref name="holder"/> still holds it) and forgets it.</summary>
    public static void Release(SandboxInfo sandbox, string holder)
    {
        // A claim folder refused as unusable keeps its claim (only root can make it so, and a reboot
        // clears /run): the removal still takes the record away and goes on to delete the machine.
        try
        {
            if (Of(sandbox) is { } range && OpenClaimFolder(Run, create: false) is { } claims)
            {
                var claim = range.ClaimFileIn(claims);
                if (File.Exists(claim) && File.ReadAllText(claim) == holder) File.Delete(claim);
            }
        }
        catch (SandboxException unusable) when (unusable.ErrorId == "BootIdClaimFolderUnusable") { }
        var folder = OpenStateFolder(sandbox);
        if (folder < 0) return;
        OpenAt2.unlinkat(folder, RecordName, 0);
        OpenAt2.close(folder);
    }

    /// <summary>A claim held by the sandbox's state folder itself (the claims' own tests, and machines of older versions).</summary>
    public static void Release(SandboxInfo sandbox) => Release(sandbox, sandbox.StatePath);

    private string ClaimFileIn(string claims) => Path.Combine(claims, Base.ToString(CultureInfo.InvariantCulture));

    private bool TryClaim(string claims, string holderPath)
    {
        var claimFile = ClaimFileIn(claims);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                using var file = new FileStream(claimFile, FileMode.CreateNew, FileAccess.Write);
                file.Write(System.Text.Encoding.UTF8.GetBytes(holderPath));
                return true;
            }
            catch (IOException) when (File.Exists(claimFile))
            {
                string holder;
                try { holder = File.ReadAllText(claimFile); }
                catch (IOException) { return false; }
                // A claim being written (empty) or held by a live sandbox stays; a dead one is taken over.
                if (holder.Length == 0 || Directory.Exists(holder)) return false;
                File.Delete(claimFile);
            }
        }
        return false;
    }

    private bool Overlaps((long Start, long Count) other) => other.Start < Base + (long)Size && Base < other.Start + other.Count;

    /// <summary>Every range handed out in /etc/subuid and /etc/subgid, whoever holds it.</summary>
    private static IEnumerable<(long Start, long Count)> SubordinateRanges()
    {
        foreach (var file in new[] { "/etc/subuid", "/etc/subgid" })
        {
            if (!File.Exists(file)) continue;
            foreach (var fields in File.ReadLines(file).Select(line => line.Split(':')).Where(f => f.Length == 3))
                if (long.TryParse(fields[1], CultureInfo.InvariantCulture, out var start) && long.TryParse(fields[2], CultureInfo.InvariantCulture, out var count))
                    yield return (start, count);
        }
    }

    /// <summary>
    /// A user namespace with this range's map, open as a descriptor, to idmap mounts with: ids
    /// 0..65535 are host <see cref="Base"/>.., and id 65536 is host root, so that what host root
    /// writes through such a mount (overlayfs's own work folder) has an owner on disk (65536)
    /// instead of failing with EOVERFLOW. Made by a short-lived `unshare --user` process that
    /// prints its pid; we write its maps as host root, open its namespace and kill it.
    /// </summary>
    public SafeFileDescriptor OpenMappingNamespace()
    {
        var map = $"0 {Base.ToString(CultureInfo.InvariantCulture)} {Size.ToString(CultureInfo.InvariantCulture)}\n{Size.ToString(CultureInfo.InvariantCulture)} 0 1\n";
        SafeFileDescriptor? opened = null;
        string? failure = null;
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = new[] { ToolLocator.Require("unshare", "util-linux"), "--user", "--", ToolLocator.Require("sh", "dash"), "-c", "echo $$; exec sleep 30" },
            Environment = new Dictionary<string, string> { ["PATH"] = ToolLocator.SystemPath },
            Timeout = TimeSpan.FromSeconds(60),
        }, onStdOutLine: line =>
        {
            if (opened is not null || failure is not null || !int.TryParse(line.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return;
            try
            {
                File.WriteAllText($"/proc/{pid}/uid_map", map);
                File.WriteAllText($"/proc/{pid}/gid_map", map);
                var fd = LibC.open($"/proc/{pid}/ns/user", LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
                if (fd < 0) failure = $"could not open the user namespace of {pid}";
                else opened = new SafeFileDescriptor(fd);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                failure = error.Message;
            }
            finally
            {
                LibC.kill(pid, LibC.SIGKILL);
            }
        });
        return opened ?? throw SandboxErrors.IdMappedMountFailed("(user namespace)", failure ?? outcome.StdErr.Trim());
    }
}

/// <summary>A descriptor closed on dispose.</summary>
internal sealed class SafeFileDescriptor(int fd) : IDisposable
{
    public int Fd { get; } = fd;
    public void Dispose() => LibC.close(Fd);
}
