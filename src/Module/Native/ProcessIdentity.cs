using System.Globalization;
using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>
/// A process told apart from a later process that reuses its pid: the pid plus the kernel's start
/// time (field 22 of /proc/pid/stat, clock ticks since boot). State files record both, so a sandbox
/// whose owner died is recognised even after the pid was handed out again.
/// </summary>
internal readonly record struct ProcessIdentity(int Pid, ulong StartTicks)
{
    public static ProcessIdentity Current { get; } = Of(Environment.ProcessId)
        ?? new ProcessIdentity(Environment.ProcessId, 0);

    public static ProcessIdentity? Of(int pid) =>
        StatFieldsAfterName(pid) is { } fields
            ? new ProcessIdentity(pid, ulong.Parse(fields[19], CultureInfo.InvariantCulture)) // field 22: start time
            : null;

    /// <summary>
    /// The fields of /proc/pid/stat after the command name, so [0] is field 3 (state), [1] field 4
    /// (parent pid), [19] field 22 (start time); null when the process is gone or unreadable. The
    /// name (field 2) may contain spaces and parentheses, so they are counted from its last ')'.
    /// </summary>
    public static string[]? StatFieldsAfterName(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }

    public bool IsAlive => Of(Pid) is { } now && now.StartTicks == StartTicks;

    /// <summary>
    /// Sends <paramref name="signal"/> to this very process and never to a later one that got its
    /// pid: a pidfd pins the process first, then its start time is checked, and the signal goes
    /// through the pidfd. False when it is gone (or was never ours to signal).
    /// </summary>
    public bool Signal(int signal)
    {
        var pidfd = pidfd_open(Pid, 0);
        if (pidfd < 0) return false;
        try
        {
            return IsAlive && pidfd_send_signal(pidfd, signal, 0, 0) == 0;
        }
        finally
        {
            LibC.close(pidfd);
        }
    }

    public override string ToString() => $"{Pid}@{StartTicks}";

    [DllImport("libc", SetLastError = true)]
    private static extern int pidfd_open(int pid, uint flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int pidfd_send_signal(int pidfd, int signal, nint info, uint flags);
}
