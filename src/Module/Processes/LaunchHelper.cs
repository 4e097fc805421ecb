using System.Runtime.InteropServices;
using Sandbox.Native;
using Sandbox.Providers;
using Sandbox.Providers.Confinement;

namespace Sandbox.Processes;

/// <summary>
/// The one link between the engine and a backend, in place of setpriv -> time -> sh -> setpriv
/// (and, for Nspawn, unshare --pid --fork --mount-proc). A tiny static program of our own
/// (<see cref="TinyElf"/>), run as <c>HELPER REPORT BACKEND ARGS...</c>:
/// <list type="number">
/// <item>asks for SIGKILL when the engine's spawning thread ends (what setpriv --pdeathsig did);</item>
/// <item>optionally (root, Nspawn) unshares a pid namespace, so its child is that namespace's
/// init and every process of the command dies with it (what unshare --pid --fork --kill-child did);</item>
/// <item>forks: the child asks for SIGKILL when the helper dies, in the pid namespace variant
/// also enters a private mount namespace (propagation private, as unshare's default) with a
/// /proc of the new pid namespace (--mount-proc: nspawn reads its own entries there), and execs
/// BACKEND with the helper's own environment;</item>
/// <item>the helper waits for the child with wait4 and writes the status and the child's rusage
/// into REPORT (the engine's memfd, opened only now, close-on-exec: the child never holds it), then
/// exits as the child did (128 + signal number when a signal ended it).</item>
/// </list>
/// Why a fork of ours and not the engine's wait4: the engine's own child is a vfork of the .NET
/// process, and exec records the parent's high-water RSS as the child's own (~100 MB for
/// /bin/true). The helper's child is forked from a process of a few pages, so the rusage wait4
/// gives the helper is the command's: what time(1) reported (%M is the same ru_maxrss).
/// Static, with no loader and no libc, it loads nothing an LD_PRELOAD in its environment names
/// (FakeChroot's), so the backend gets its environment straight from the engine (no env link).
/// It lives in a sealed memfd of the engine, executed as /proc/ENGINE/fd/N (the engine's table,
/// which the spawned child's closing of its own descriptors does not touch).
/// x86-64 only; elsewhere the chain of host tools is kept (<see cref="BackendProcess"/>).
/// </summary>
internal static class LaunchHelper
{
    /// <summary>What the helper prints when it cannot execute the backend (exit 127).</summary>
    public const string ExecFailure = "sandbox-launch: could not execute the backend";

    /// <summary>Bytes the helper writes into the report: the wait status (int, padded to 8) and struct rusage (144).</summary>
    public const int ReportSize = 8 + 144;

    private static readonly Lazy<HelperFile?> Plain = new(() => HelperFile.Create(Build(ownPidNamespace: false)));
    private static readonly Lazy<HelperFile?> InOwnPidNamespace = new(() => HelperFile.Create(Build(ownPidNamespace: true)));
    private static readonly Lazy<HelperFile?> InFolder = new(() => HelperFile.Create(Build(ownPidNamespace: false, startsInFolder: true)));

    public static bool Supported => ConfineHelper.Supported;

    /// <summary>The path to execute the helper by, or null where it cannot be used.</summary>
    public static string? Path(bool ownPidNamespace) =>
        Supported ? (ownPidNamespace ? InOwnPidNamespace : Plain).Value?.ExecutablePath : null;

    /// <summary>
    /// The variant run as <c>HELPER REPORT PROGRAM FOLDER ARGV0 ARGS...</c>: its child changes to
    /// FOLDER and executes the file PROGRAM with the argument list ARGV0 ARGS... (a program started
    /// without a backend in front, that must see the name it was called by, as FakeChroot's direct
    /// start: <see cref="Providers.FakeChrootDirectStart"/>). Null where it cannot be used.
    /// </summary>
    public static string? PathStartingInFolder() => Supported ? InFolder.Value?.ExecutablePath : null;

    /// <summary>
    /// The helper's bytes; <paramref name="ownPidNamespace"/> adds the pid and mount namespaces (root
    /// only); <paramref name="startsInFolder"/> makes the variant of <see cref="PathStartingInFolder"/>.
    /// </summary>
    public static byte[] Build(bool ownPidNamespace, bool startsInFolder = false)
    {
        if (ownPidNamespace && startsInFolder) throw new ArgumentException("The folder variant runs without namespaces of its own.", nameof(startsInFolder));
        var asm = new TinyElf.Assembler();
        asm.Emit(0x49, 0x89, 0xE4);                                  // mov r12, rsp: argc, argv..., NULL, envp...
        asm.Emit(0x48, 0x81, 0xEC).Emit32(0x100);                    // sub rsp, 256: [rsp] status, [rsp+8] rusage
        asm.Syscall(157, 1, 9);                                      // prctl(PR_SET_PDEATHSIG, SIGKILL)
        if (ownPidNamespace)
        {
            asm.Syscall(272, 0x20000000, 0);                         // unshare(CLONE_NEWPID): our next child is its init
            asm.JumpIfFailed("setup");
        }
        asm.Emit(0xB8).Emit32(57).Emit(0x0F, 0x05);                  // fork()
        asm.JumpIfNegative("setup");
        asm.JumpIfZero("child");
        asm.Emit(0x49, 0x89, 0xC5);                                  // mov r13, rax: the child's pid

        asm.Label("wait");
        asm.Emit(0x4C, 0x89, 0xEF);                                  // mov rdi, r13
        asm.Emit(0x48, 0x89, 0xE6);                                  // mov rsi, rsp: &status
        asm.Emit(0x31, 0xD2);                                        // xor edx, edx: no options
        asm.Emit(0x4C, 0x8D, 0x54, 0x24, 0x08);                      // lea r10, [rsp+8]: &rusage
        asm.Emit(0xB8).Emit32(61).Emit(0x0F, 0x05);                  // wait4(child, &status, 0, &rusage)
        asm.Emit(0x48, 0x83, 0xF8, 0xFC);                            // cmp rax, -EINTR
        asm.JumpIfEqual("wait");
        asm.JumpIfNegative("lost");

        asm.Emit(0x49, 0x8B, 0x7C, 0x24, 0x10);                      // mov rdi, [r12+16]: argv[1], the report
        asm.Emit(0xBE).Emit32(0x80001);                              // mov esi, O_WRONLY | O_CLOEXEC
        asm.Emit(0x31, 0xD2);                                        // xor edx, edx
        asm.Emit(0xB8).Emit32(2).Emit(0x0F, 0x05);                   // open(report)
        asm.JumpIfNegative("exit");                                  // no report: the engine keeps the kernel's figure
        asm.Emit(0x48, 0x89, 0xC7);                                  // mov rdi, rax
        asm.Emit(0x48, 0x89, 0xE6);                                  // mov rsi, rsp
        asm.Emit(0xBA).Emit32(ReportSize);                           // mov edx, ReportSize
        asm.Emit(0xB8).Emit32(1).Emit(0x0F, 0x05);                   // write(fd, status and rusage)

        asm.Label("exit");
        asm.Emit(0x8B, 0x04, 0x24);                                  // mov eax, [rsp]: status
        asm.Emit(0x89, 0xC7);                                        // mov edi, eax
        asm.Emit(0x83, 0xE7, 0x7F);                                  // and edi, 0x7f: the signal, if any
        asm.JumpIfZero("exited");
        asm.Emit(0x81, 0xC7).Emit32(128);                            // add edi, 128
        asm.Jump("leave");
        asm.Label("exited");
        asm.Emit(0x89, 0xC7);                                        // mov edi, eax
        asm.Emit(0xC1, 0xEF, 0x08);                                  // shr edi, 8
        asm.Emit(0x81, 0xE7).Emit32(0xFF);                           // and edi, 0xff: the exit code
        asm.Label("leave");
        asm.Emit(0xB8).Emit32(231).Emit(0x0F, 0x05);                 // exit_group(edi)

        asm.Label("child");
        asm.Syscall(157, 1, 9);                                      // prctl(PR_SET_PDEATHSIG, SIGKILL): dies with the helper
        if (ownPidNamespace)
        {
            asm.Syscall(272, 0x20000, 0);                            // unshare(CLONE_NEWNS)
            asm.JumpIfFailed("setup");
            Mount(asm, "none", "root", null, 0x44000);               // mount(none, /, MS_REC | MS_PRIVATE): nothing propagates back
            asm.JumpIfFailed("setup");
            Mount(asm, "proc", "procdir", "proc", 0xE);              // mount(proc, /proc, proc, MS_NOSUID | MS_NODEV | MS_NOEXEC)
            asm.JumpIfFailed("setup");
        }
        if (startsInFolder)
        {
            asm.Emit(0x49, 0x8B, 0x7C, 0x24, 0x20);                  // mov rdi, [r12+32]: argv[3], the folder
            asm.Emit(0xB8).Emit32(80).Emit(0x0F, 0x05);              // chdir(folder)
            asm.JumpIfFailed("execfailed");
        }
        asm.Emit(0x49, 0x8B, 0x7C, 0x24, 0x18);                      // mov rdi, [r12+24]: argv[2], the backend's path
        if (startsInFolder)
            asm.Emit(0x49, 0x8D, 0x74, 0x24, 0x28);                  // lea rsi, [r12+40]: &argv[4], the program's own argv
        else
            asm.Emit(0x49, 0x8D, 0x74, 0x24, 0x18);                  // lea rsi, [r12+24]: &argv[2]
        asm.Emit(0x49, 0x8B, 0x0C, 0x24);                            // mov rcx, [r12]: argc
        asm.Emit(0x49, 0x8D, 0x54, 0xCC, 0x10);                      // lea rdx, [r12+rcx*8+16]: envp
        asm.Emit(0xB8).Emit32(59).Emit(0x0F, 0x05);                  // execve: returns only on failure
        asm.Fail("execfailed", ExecFailure, 127);
        asm.Fail("setup", $"{OverlayLauncher.SetupMarker} the launcher could not start the backend (fork, namespaces or /proc)", OverlayLauncher.SetupExitCode);
        asm.Fail("lost", $"{OverlayLauncher.SetupMarker} the launcher lost the backend it started", OverlayLauncher.SetupExitCode);

        asm.Label("none").Emit("none\0"u8.ToArray());
        asm.Label("root").Emit("/\0"u8.ToArray());
        asm.Label("proc").Emit("proc\0"u8.ToArray());
        asm.Label("procdir").Emit("/proc\0"u8.ToArray());
        return TinyElf.Executable(asm);
    }

    /// <summary>mount(source, target, type or NULL, flags, NULL), the strings at labels.</summary>
    private static void Mount(TinyElf.Assembler asm, string source, string target, string? type, uint flags)
    {
        asm.Emit(0xBF).EmitAddress(source);                          // mov edi, source
        asm.Emit(0xBE).EmitAddress(target);                          // mov esi, target
        if (type is null) asm.Emit(0x31, 0xD2);                      // xor edx, edx
        else asm.Emit(0xBA).EmitAddress(type);                       // mov edx, type
        asm.Emit(0x41, 0xBA).Emit32(flags);                          // mov r10d, flags
        asm.Emit(0x45, 0x31, 0xC0);                                  // xor r8d, r8d
        asm.Emit(0xB8).Emit32(165).Emit(0x0F, 0x05);                 // mount
    }

    /// <summary>The wait status and peak resident memory (KiB) of a report, or null if the helper wrote none.</summary>
    public static (int Status, long MaxRssKiB)? Read(ReadOnlySpan<byte> report) =>
        report.Length < ReportSize ? null : (BitConverter.ToInt32(report[..4]), BitConverter.ToInt64(report.Slice(8 + 32, 8)));

    /// <summary>The helper in a sealed memfd of this process: nobody, us included, can change it once written.</summary>
    private sealed class HelperFile
    {
        private const uint MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2, MFD_EXEC = 0x10;
        private const int F_ADD_SEALS = 1033;
        private const int F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;

        private HelperFile(int descriptor) => ExecutablePath = $"/proc/{Environment.ProcessId}/fd/{descriptor}";

        public string ExecutablePath { get; }

        private const string NoExecSetting = "/proc/sys/vm/memfd_noexec";

        public static unsafe HelperFile? Create(byte[] program)
        {
            // vm.memfd_noexec 2 forbids executable memfds: keep the chain of host tools there.
            if (File.Exists(NoExecSetting) && File.ReadAllText(NoExecSetting).Trim() == "2") return null;
            // MFD_EXEC (Linux 6.3+) asks for an executable one where memfd_noexec 1 would seal it
            // non-executable; older kernels refuse the flag and make them executable anyway.
            var fd = memfd_create("sandbox-launch", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
            if (fd < 0) fd = memfd_create("sandbox-launch", MFD_CLOEXEC | MFD_ALLOW_SEALING);
            if (fd < 0) return null;
            fixed (byte* bytes = program)
            {
                if (write(fd, bytes, (nint)program.Length) != program.Length
                    || fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
                {
                    LibC.close(fd);
                    return null;
                }
            }
            return new HelperFile(fd);
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int memfd_create([MarshalAs(UnmanagedType.LPUTF8Str)] string name, uint flags);

        [DllImport("libc", SetLastError = true)]
        private static extern unsafe nint write(int fd, byte* buffer, nint count);

        [DllImport("libc", SetLastError = true)]
        private static extern int fcntl(int fd, int command, int argument);
    }
}
