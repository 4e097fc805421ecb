using System.Globalization;

namespace Sandbox.Providers.Confinement;

/// <summary>Capability names and numbers (linux/capability.h), and bounding sets read from /proc.</summary>
internal static class CapabilitySet
{
    private static readonly string[] Names =
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    };

    public static int Number(string name) => Array.IndexOf(Names, name) is >= 0 and var number
        ? number : throw new ArgumentException($"Unknown capability {name}.", nameof(name));

    /// <summary>The highest capability this kernel knows.</summary>
    public static int LastCapability =>
        int.TryParse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var last)
            ? last : Names.Length - 1;

    /// <summary>A process's bounding set (CapBnd in /proc/pid/status) as a bit mask.</summary>
    public static ulong BoundingOf(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(line => line.StartsWith("CapBnd:", StringComparison.Ordinal))
            .Select(line => ulong.Parse(line["CapBnd:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture))
            .First();

    /// <summary>Every capability of this kernel that is not in <paramref name="bounding"/> or is one of <paramref name="alsoDropped"/>.</summary>
    public static IReadOnlyList<int> OutsideOf(ulong bounding, IEnumerable<string> alsoDropped)
    {
        foreach (var name in alsoDropped) bounding &= ~(1ul << Number(name));
        return Enumerable.Range(0, LastCapability + 1).Where(cap => (bounding & (1ul << cap)) == 0).ToList();
    }
}
