namespace Sandbox.Tracing;

/// <summary>
/// The strace words put before the backend (pure, unit-tested). Why these options:
/// -f follows forks, threads and execs; --seccomp-bpf stops the tracee only at the traced calls (a
/// kernel filter), so a syscall-heavy command pays for the calls listed, not every call; -q keeps
/// attach notes out, while exits stay in the output (a process's exit code); -xx prints every
/// string byte as \xHH, so nothing the command names can fake the line's structure; -X raw prints
/// flags and addresses as numbers; --pidns-translation adds the tracer's pid to each clone's
/// result, which is how a pid the command saw is matched to the lines of that process; -s 4096
/// keeps whole paths (PATH_MAX). Signal deliveries stay printed (and are skipped by the parser):
/// with -e signal=none strace also leaves out "+++ killed by SIGNAL +++". strace writes only to -o:
/// the command's stdout and stderr stay its own, and strace exits with the command's status.
/// </summary>
internal static class StraceCommandLine
{
    /// <summary>The calls traced: those naming a path, starting or replacing a process, and connect.</summary>
    public static readonly string[] TracedCalls =
    {
        "open", "openat", "openat2", "creat", "truncate",
        "unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2",
        "mkdir", "mkdirat", "link", "linkat", "symlink", "symlinkat",
        "chmod", "fchmodat", "chown", "lchown", "fchownat", "mknod", "mknodat",
        "execve", "execveat", "chdir", "fchdir",
        "clone", "clone3", "fork", "vfork",
        "connect",
    };

    public static IReadOnlyList<string> Prefix(string strace, string output) => new[]
    {
        strace, "-f", "-q", "--seccomp-bpf", "--pidns-translation", "-xx", "-X", "raw", "-s", "4096",
        "-e", "trace=" + string.Join(',', TracedCalls), "-o", output, "--",
    };
}
