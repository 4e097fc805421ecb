using System.Globalization;
using System.Text.RegularExpressions;

namespace Sandbox.Processes;

/// <summary>
/// Measures a backend's peak resident memory with time(1) placed between us and the backend.
/// The kernel's figure for our own child cannot be used: the child is spawned by vfork from this
/// .NET process, and exec records the parent's high-water RSS as the child's own, so even /bin/true
/// showed the ~100 MB of the PowerShell host. time's child is forked from a process of a few MB, so
/// the maximum it reports is the command's. CPU times stay the ones wait4 gives us (exact, and
/// not inflated). Without time installed the kernel's figure is kept, with the inflation.
/// </summary>
internal sealed partial class PeakMemoryMeter : IDisposable
{
    private readonly string? _time = ToolLocator.Find("time");
    private readonly string? _report;

    public PeakMemoryMeter()
    {
        if (_time is null) return;
        // Created here, exclusively, under a random name: time then writes into our file and never
        // through a link someone planted in /tmp.
        _report = Path.Combine(Path.GetTempPath(), $"sandbox-peak-memory-{Guid.NewGuid():N}");
        using (File.Open(_report, FileMode.CreateNew, FileAccess.Write)) { }
    }

    /// <summary><paramref name="argv"/> run under time, which writes the peak (in KiB) into our report.</summary>
    public IReadOnlyList<string> Wrap(IReadOnlyList<string> argv) =>
        _report is null ? argv : new[] { _time!, "--format=%M", $"--output={_report}" }.Concat(argv).ToList();

    /// <summary>
    /// <paramref name="outcome"/> with the measured peak memory, and with the backend's own signal
    /// when time reports one (time itself then exits with 128 + the signal number).
    /// </summary>
    public ProcessOutcome Correct(ProcessOutcome outcome)
    {
        if (_report is null) return outcome;
        string[] lines;
        try { lines = File.ReadAllLines(_report); }
        catch (IOException) { return outcome; }
        // A killed time (timeout, cancellation) wrote nothing: the kernel's figure is all there is.
        if (lines.Length == 0 || !long.TryParse(lines[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var kib))
            return outcome;

        var signal = lines.Select(line => TerminatedBySignal().Match(line)).FirstOrDefault(m => m.Success);
        var measured = outcome with { PeakMemoryBytes = kib * 1024 };
        return signal is not null && outcome.Signal is null
            ? measured with { Signal = int.Parse(signal.Groups[1].Value, CultureInfo.InvariantCulture), ExitCode = null }
            : measured;
    }

    public void Dispose()
    {
        if (_report is not null) File.Delete(_report);
    }

    [GeneratedRegex(@"^Command terminated by signal (\d+)$")]
    private static partial Regex TerminatedBySignal();
}
