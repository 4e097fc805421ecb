using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

using Sandbox.Native;

namespace Sandbox.Processes;

/// <summary>
/// Measures a backend's peak resident memory through the report of a link placed between us and
/// the backend: our <see cref="LaunchHelper"/> (the status and rusage of its forked child, as
/// bytes), or where that cannot run, time(1) (as text), as described below.
/// The kernel's figure for our own child cannot be used: the child is spawned by vfork from this
/// .NET process, and exec records the parent's high-water RSS as the child's own, so even /bin/true
/// showed the ~100 MB of the PowerShell host. time's child is forked from a process of a few MB, so
/// the maximum it reports is the command's. CPU times stay the ones wait4 gives us (exact, and
/// not inflated). Without time installed the kernel's figure is kept, with the inflation.
/// time's report goes to a memfd of ours (close-on-exec, so no other child inherits it) that time
/// opens through /proc/OUR_PID/fd/N: the report never has a name on any file system, so nothing is
/// left in /tmp when we are killed, and nobody can plant a link where it is written. time leaves
/// the descriptor it opened to its child, so a small sh closes descriptors 3 to 9 before the
/// backend starts: the sandbox can neither forge the figure nor hold our file.
/// </summary>
internal sealed partial class PeakMemoryMeter : IDisposable
{
    private const uint MFD_CLOEXEC = 1;

    // time opens its output before it forks, so the descriptor (the lowest free one, 3: everything
    // else we hold is close-on-exec) is inherited by its child; this link closes it.
    private const string CloseReportDescriptor =
        "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- \"$@\"";

    private readonly string? _time = LaunchChainTools.Time;
    private readonly int _report = -1;

    public PeakMemoryMeter()
    {
        if (_time is null && !LaunchHelper.Supported) return;
        _report = memfd_create("sandbox-peak-memory", MFD_CLOEXEC);
        if (_report < 0) throw new IOException($"memfd_create failed: {LibC.ErrorText(Marshal.GetLastPInvokeError())}");
    }

    /// <summary>
    /// <paramref name="argv"/> run by the launch helper, which writes its child's status and rusage
    /// into our report (see <see cref="LaunchHelper"/>); null when the report could not be made.
    /// </summary>
    public IReadOnlyList<string>? WrapWithHelper(string helper, IReadOnlyList<string> argv)
    {
        if (_report < 0) return null;
        _binary = true;
        return new[] { helper, ReportPath }.Concat(argv).ToList();
    }

    private string ReportPath => $"/proc/{Environment.ProcessId}/fd/{_report}";

    private bool _binary;

    /// <summary><paramref name="argv"/> run under time, which writes the peak (in KiB) into our report.</summary>
    public IReadOnlyList<string> Wrap(IReadOnlyList<string> argv) =>
        _report < 0
            ? argv
            : new[]
            {
                _time!, "--format=%M", $"--output={ReportPath}", "--",
                LaunchChainTools.Sh ?? throw SandboxErrors.ToolNotInstalled("sh", "dash"), "-c", CloseReportDescriptor, "sandbox-backend",
            }.Concat(argv).ToList();

    /// <summary>
    /// <paramref name="outcome"/> with the measured peak memory, and with the backend's own signal
    /// when time reports one (time itself then exits with 128 + the signal number).
    /// </summary>
    public ProcessOutcome Correct(ProcessOutcome outcome)
    {
        if (_report < 0) return outcome;
        if (_binary) return CorrectFromHelper(outcome);
        string[] lines;
        try { lines = File.ReadAllLines($"/proc/self/fd/{_report}"); }
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

    /// <summary>
    /// The helper's report: its child's peak memory, and its child's signal (the helper itself then
    /// exits with 128 + the signal number). A helper killed before it wrote (timeout, cancellation)
    /// leaves the report empty: the kernel's figure is all there is.
    /// </summary>
    private ProcessOutcome CorrectFromHelper(ProcessOutcome outcome)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes($"/proc/self/fd/{_report}"); }
        catch (IOException) { return outcome; }
        if (LaunchHelper.Read(bytes) is not { } report) return outcome;
        var measured = outcome with { PeakMemoryBytes = report.MaxRssKiB * 1024 };
        var signal = report.Status & 0x7f;
        return signal != 0 && outcome.Signal is null ? measured with { Signal = signal, ExitCode = null } : measured;
    }

    public void Dispose()
    {
        if (_report >= 0) LibC.close(_report);
    }

    [GeneratedRegex(@"^Command terminated by signal (\d+)$")]
    private static partial Regex TerminatedBySignal();

    [DllImport("libc", SetLastError = true)]
    private static extern int memfd_create([MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint flags);
}
