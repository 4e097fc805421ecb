using System.Runtime.InteropServices;
using System.Text;

namespace Sandbox.Providers.Confinement;

/// <summary>
/// A tiny static x86-64 program, written out by the engine, that confines a command entering a
/// booted machine the way systemd-nspawn confines its own commands: run as
/// <c>HELPER WORKDIR PROGRAM ARGS...</c> after nsenter has entered the machine's namespaces and
/// root, it sets no_new_privs, drops every capability outside the given bounding set, clears the
/// ambient set, takes the user's uid and gid (no supplementary groups), installs the
/// <see cref="SeccompDenyList"/> filter, changes to WORKDIR inside the machine, closes every
/// descriptor above stderr, and execs PROGRAM.
/// Why a program of our own: whatever runs after nsenter while still privileged must not come from
/// the machine's file system (the sandbox could have replaced setpriv, or the dynamic loader and
/// libc any host tool would load from there), and no host tool both drops the bounding set and
/// installs a seccomp filter. So it has no loader, no libc and no path: it is executed through a
/// descriptor opened on the host (/proc/self/fd/N).
/// </summary>
internal static class ConfineHelper
{
    /// <summary>What the helper prints (with the exit code) when it cannot execute the command.</summary>
    public const string ExecFailure = "sandbox-confine: could not execute the command: not found or not executable";
    public const int ExecFailureExitCode = 127;

    public static bool Supported => RuntimeInformation.OSArchitecture == Architecture.X64;

    /// <summary>
    /// Where execvp would look for <paramref name="program"/>: itself if it names a path, else in
    /// each folder of the command's PATH (an empty entry is the working directory).
    /// </summary>
    public static IReadOnlyList<string> ProgramPaths(string program, string? searchPath)
    {
        if (program.Contains('/')) return new[] { program };
        return (searchPath ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Select(folder => folder.Length == 0 ? program : $"{folder.TrimEnd('/')}/{program}").ToList();
    }

    /// <summary>The program's bytes for the given identity, the capabilities to drop and where the program may be.</summary>
    public static byte[] Build(uint uid, uint gid, IEnumerable<int> dropCapabilities, IReadOnlyList<string> programPaths)
    {
        var asm = new TinyElf.Assembler();
        Syscall(asm, 157, 38, 1, edxZero: true, zeroR10R8: true);   // prctl(PR_SET_NO_NEW_PRIVS, 1)
        foreach (var capability in dropCapabilities)
            Syscall(asm, 157, 24, (uint)capability);                // prctl(PR_CAPBSET_DROP, cap): needs CAP_SETPCAP, as root
        Syscall(asm, 157, 47, 4);                                   // prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        asm.Emit(0xB8, 116, 0, 0, 0, 0x31, 0xFF, 0x31, 0xF6, 0x0F, 0x05); // setgroups(0, NULL)
        asm.JumpIfFailed("setup");
        asm.Emit(0xB8, 106, 0, 0, 0, 0xBF).Emit32(gid).Emit(0x0F, 0x05);  // setgid(gid)
        asm.JumpIfFailed("setup");
        asm.Emit(0xB8, 105, 0, 0, 0, 0xBF).Emit32(uid).Emit(0x0F, 0x05);  // setuid(uid): drops every capability unless uid 0
        asm.JumpIfFailed("setup");
        asm.Emit(0xB8, 157, 0, 0, 0, 0xBF, 22, 0, 0, 0, 0xBE, 2, 0, 0, 0, 0xBA).EmitAddress("fprog").Emit(0x0F, 0x05); // prctl(PR_SET_SECCOMP, FILTER, &fprog)
        asm.JumpIfFailed("setup");
        asm.Emit(0x48, 0x8B, 0x7C, 0x24, 0x10);                    // mov rdi, [rsp+16]: argv[1]
        asm.Emit(0xB8, 80, 0, 0, 0, 0x0F, 0x05);                    // chdir(argv[1])
        asm.JumpIfFailed("workdir");
        asm.Emit(0xB8, 0xB4, 0x01, 0, 0, 0xBF, 3, 0, 0, 0, 0xBE, 0xFF, 0xFF, 0xFF, 0xFF, 0x31, 0xD2, 0x0F, 0x05); // close_range(3, ~0U, 0)
        // execvp without libc: try each full path the engine worked out from PATH, in order.
        asm.Emit(0xBB).EmitAddress("paths");                        // mov ebx, paths
        asm.Label("next");
        asm.Emit(0x48, 0x8B, 0x3B, 0x48, 0x85, 0xFF);               // mov rdi, [rbx]; test rdi, rdi
        asm.JumpIfZero("exec");
        asm.Emit(0x48, 0x8B, 0x0C, 0x24);                          // mov rcx, [rsp]: argc
        asm.Emit(0x48, 0x8D, 0x74, 0x24, 0x18);                    // lea rsi, [rsp+24]: &argv[2]
        asm.Emit(0x48, 0x8D, 0x54, 0xCC, 0x10);                    // lea rdx, [rsp+rcx*8+16]: envp
        asm.Emit(0xB8, 59, 0, 0, 0, 0x0F, 0x05);                    // execve(path, &argv[2], envp): returns only on failure
        asm.Emit(0x48, 0x83, 0xC3, 0x08);                          // add rbx, 8
        asm.Jump("next");
        Fail(asm, "exec", ExecFailure, ExecFailureExitCode);
        Fail(asm, "setup", $"{OverlayLauncher.SetupMarker} could not drop privileges or install the seccomp filter", OverlayLauncher.SetupExitCode);
        Fail(asm, "workdir", $"{OverlayLauncher.SetupMarker} the working directory does not exist in the sandbox or cannot be entered", OverlayLauncher.SetupExitCode);

        asm.Align(8).Label("paths");
        for (var i = 0; i < programPaths.Count; i++) asm.EmitAddress64($"path{i}");
        asm.Emit(0, 0, 0, 0, 0, 0, 0, 0);
        for (var i = 0; i < programPaths.Count; i++)
            asm.Label($"path{i}").Emit(Encoding.UTF8.GetBytes(programPaths[i])).Emit(0);

        var filter = SeccompDenyList.Program();
        asm.Align(8).Label("fprog").Emit16((ushort)(filter.Length / 8)).Emit(0, 0, 0, 0, 0, 0).EmitAddress64("filter");
        asm.Align(8).Label("filter").Emit(filter);
        return TinyElf.Executable(asm);
    }

    private static void Syscall(TinyElf.Assembler asm, byte number, uint first, uint second, bool edxZero = false, bool zeroR10R8 = false) =>
        asm.Syscall(number, first, second, edxZero, zeroR10R8);

    private static void Fail(TinyElf.Assembler asm, string label, string message, int code) => asm.Fail(label, message, code);
}
