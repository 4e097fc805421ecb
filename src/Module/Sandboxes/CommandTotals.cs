using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Sandboxes;

/// <summary>
/// A sandbox's running totals (commands run, CPU, peak memory) in a small file of its own,
/// <c>totals</c>, rewritten in place after each command: one fixed-length line with a checksum.
/// state.json is written by rename (a new file each time), and on ext4 each new file cost 0.6-0.8 ms
/// here, more than the rest of recording a command; a rewrite of an existing file costs 0.02 ms.
/// The line is always the same length, so a write never needs a truncate; a reader that catches a
/// write half-way (or a line torn by a crash) sees a bad checksum, reads again, and otherwise keeps
/// the totals state.json last had: never a wrong figure, at worst an older one.
/// </summary>
internal readonly record struct CommandTotals(int CommandsRun, TimeSpan UserCpu, TimeSpan SystemCpu, long PeakMemoryBytes)
{
    public const string FileName = "totals";
    private const int LineLength = 128;
    private const string Tag = "sandbox-totals-1";

    /// <summary>The line as written: fields, checksum, padding, newline; exactly <see cref="LineLength"/> bytes.</summary>
    internal string Format()
    {
        var fields = string.Join(' ', Tag, CommandsRun.ToString(CultureInfo.InvariantCulture),
            UserCpu.Ticks.ToString(CultureInfo.InvariantCulture), SystemCpu.Ticks.ToString(CultureInfo.InvariantCulture),
            PeakMemoryBytes.ToString(CultureInfo.InvariantCulture));
        return $"{fields} {Checksum(fields)}".PadRight(LineLength - 1) + "\n";
    }

    internal static CommandTotals? Parse(string line)
    {
        var parts = line.TrimEnd().Split(' ');
        if (parts.Length != 6 || parts[0] != Tag) return null;
        if (Checksum(string.Join(' ', parts[..5])) != parts[5]) return null;
        var invariant = CultureInfo.InvariantCulture;
        return int.TryParse(parts[1], NumberStyles.None, invariant, out var commands)
            && long.TryParse(parts[2], NumberStyles.None, invariant, out var user)
            && long.TryParse(parts[3], NumberStyles.None, invariant, out var system)
            && long.TryParse(parts[4], NumberStyles.None, invariant, out var peak)
            ? new CommandTotals(commands, TimeSpan.FromTicks(user), TimeSpan.FromTicks(system), peak)
            : null;
    }

    /// <summary>The totals of the sandbox in <paramref name="stateFolder"/>; null when it has none (yet) that reads whole.</summary>
    public static CommandTotals? Read(string stateFolder)
    {
        var path = Path.Combine(stateFolder, FileName);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (UntrustedFile.ReadRegular(path, LineLength) is not { Length: LineLength } bytes) return null;
            if (Parse(Encoding.ASCII.GetString(bytes)) is { } totals) return totals;
        }
        return null;
    }

    /// <summary>
    /// Rewrites the file in place (made 0600 the first time and handed to the sudo caller like
    /// state.json), reached from the store root without following a link (<see cref="StateFolder"/>);
    /// false when it cannot be used (a link or another kind of file in its place, a folder swapped
    /// for a link), so the caller records the totals in state.json instead.
    /// </summary>
    public bool TryWrite(string storeRoot, string stateFolder)
    {
        var folder = StateFolder.Open(storeRoot, stateFolder);
        if (folder < 0) return false;
        int fd;
        try { fd = StateFolder.OpenOwnFile(folder, FileName, sudoCallersToo: true); }
        finally { LibC.close(folder); }
        if (fd < 0) return false;
        try
        {
            StateFolder.WriteWhole(fd, Encoding.ASCII.GetBytes(Format()), Path.Combine(stateFolder, FileName));
            return true;
        }
        finally
        {
            LibC.close(fd);
        }
    }

    private static string Checksum(string text) =>
        Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(text)))[..16].ToLowerInvariant();
}
