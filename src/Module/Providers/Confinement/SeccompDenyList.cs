namespace Sandbox.Providers.Confinement;

/// <summary>
/// A classic-BPF seccomp program for x86-64 that fails the system calls a container's root must
/// never make with EPERM, as systemd-nspawn's own filter does for a command without the matching
/// capabilities: mounting and the new mount API, swap, reboot, kexec, kernel modules, handle-based
/// opens (the "shocker" escape), the kernel keyring, raw port I/O, accounting, quotas, the clock.
/// Any other architecture (an i386 or x32 entry into the same kernel) is killed, so the list
/// cannot be sidestepped with another syscall table.
/// </summary>
internal static class SeccompDenyList
{
    public const uint AuditArchX86_64 = 0xC000003E;
    private const uint X32Bit = 0x40000000;

    /// <summary>x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl) and why each is denied.</summary>
    public static readonly IReadOnlyDictionary<string, uint> Denied = new Dictionary<string, uint>
    {
        ["mount"] = 165, ["umount2"] = 166, ["pivot_root"] = 155,
        ["open_tree"] = 428, ["move_mount"] = 429, ["fsopen"] = 430, ["fsconfig"] = 431, ["fsmount"] = 432, ["fspick"] = 433,
        ["mount_setattr"] = 442,
        ["swapon"] = 167, ["swapoff"] = 168, ["reboot"] = 169,
        ["kexec_load"] = 246, ["kexec_file_load"] = 320,
        ["init_module"] = 175, ["finit_module"] = 313, ["delete_module"] = 176,
        ["open_by_handle_at"] = 304, ["name_to_handle_at"] = 303,
        ["keyctl"] = 250, ["add_key"] = 248, ["request_key"] = 249,
        ["iopl"] = 172, ["ioperm"] = 173,
        ["acct"] = 163, ["quotactl"] = 179, ["lookup_dcookie"] = 212,
        ["settimeofday"] = 164, ["clock_settime"] = 227, ["adjtimex"] = 159, ["clock_adjtime"] = 305,
        ["syslog"] = 103, ["vhangup"] = 153,
    };

    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
    private const ushort LoadWordAbsolute = 0x20; // BPF_LD | BPF_W | BPF_ABS
    private const ushort JumpIfEqual = 0x15;      // BPF_JMP | BPF_JEQ | BPF_K
    private const ushort JumpIfAtLeast = 0x35;    // BPF_JMP | BPF_JGE | BPF_K
    private const ushort Return = 0x06;           // BPF_RET | BPF_K
    private const uint KillProcess = 0x80000000;
    private const uint Allow = 0x7FFF0000;
    private const uint ErrnoEperm = 0x00050000 | 1;

    /// <summary>The program as the kernel's struct sock_filter array, little-endian.</summary>
    public static byte[] Program()
    {
        var numbers = Denied.Values.Distinct().OrderBy(n => n).ToList();
        var instructions = new List<(ushort Code, byte True, byte False, uint K)>
        {
            (LoadWordAbsolute, 0, 0, 4),              // seccomp_data.arch
            (JumpIfEqual, 1, 0, AuditArchX86_64),
            (Return, 0, 0, KillProcess),
            (LoadWordAbsolute, 0, 0, 0),              // seccomp_data.nr
        };
        // The deny return sits after the allow return at the end; every jump counts from the next instruction.
        var denyIndex = instructions.Count + 1 + numbers.Count + 1;
        instructions.Add((JumpIfAtLeast, (byte)(denyIndex - instructions.Count - 1), 0, X32Bit));
        foreach (var number in numbers)
            instructions.Add((JumpIfEqual, (byte)(denyIndex - instructions.Count - 1), 0, number));
        instructions.Add((Return, 0, 0, Allow));
        instructions.Add((Return, 0, 0, ErrnoEperm));

        var bytes = new byte[instructions.Count * 8];
        for (var i = 0; i < instructions.Count; i++)
        {
            var (code, jt, jf, k) = instructions[i];
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), code);
            bytes[i * 8 + 2] = jt;
            bytes[i * 8 + 3] = jf;
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8 + 4), k);
        }
        return bytes;
    }
}
