using System.Runtime.InteropServices;
using static Sandbox.Native.LibC;

namespace Sandbox.Native;

/// <summary>
/// Runs a short-lived process and reaps it without starting any thread: for the thread that holds
/// a private mount namespace (<see cref="IdMappedMount.InPrivateMountNamespace{T}"/>). A thread
/// inherits the mount namespace of the thread that creates it, so the pipe pump of
/// NativeProcessRunner (or a thread-pool worker it caused) started there would keep that
/// namespace, with its idmapped views of a sandbox's folders, alive for the rest of the process,
/// and later commands spawned from it would see them. Here stdin is /dev/null and stdout and
/// stderr go to a file; the caller waits for the exit code.
/// </summary>
internal static unsafe class ThreadlessSpawn
{
    public static int Run(string executable, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, string outputFile)
    {
        using var spawn = new SpawnArguments(flags: 0);
        posix_spawn_file_actions_addopen(spawn.Actions, 0, spawn.Utf8("/dev/null"), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(spawn.Actions, 1, spawn.Utf8(outputFile), OpenFlags.O_WRONLY | O_CREAT | OpenFlags.O_TRUNC | OpenFlags.O_NOFOLLOW, 0b110_000_000);
        posix_spawn_file_actions_adddup2(spawn.Actions, 1, 2);
        spawn.KeepOnlyStdio();

        int pid;
        var error = posix_spawn(&pid, spawn.Utf8(executable), spawn.Actions, spawn.Attributes,
            spawn.Array(argv), spawn.Environment(environment));
        if (error != 0)
            throw SandboxErrors.SpawnFailed(executable, ErrorText(error));
        int status;
        while (wait4(pid, &status, 0, null) < 0)
            if (Marshal.GetLastPInvokeError() != EINTR) return -1;
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
    }
}
