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
    private const int O_WRONLY = 1;
    private const int O_TRUNC = 0x200;
    // Not the same number on every architecture (aarch64 swapped it with O_DIRECTORY).
    private static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x8000 : 0x20000;

    public static int Run(string executable, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment, string outputFile)
    {
        var strings = new List<nint>();
        var blocks = new List<nint>();
        byte* Utf8(string text)
        {
            var pointer = Marshal.StringToCoTaskMemUTF8(text);
            strings.Add(pointer);
            return (byte*)pointer;
        }
        byte** Array(IReadOnlyList<string> items)
        {
            var block = (byte**)NativeMemory.AllocZeroed((nuint)(items.Count + 1), (nuint)sizeof(nint));
            blocks.Add((nint)block);
            for (var i = 0; i < items.Count; i++) block[i] = Utf8(items[i]);
            return block;
        }

        var actions = NativeMemory.AllocZeroed(SpawnFileActionsSize);
        var attributes = NativeMemory.AllocZeroed(SpawnAttrSize);
        var allSignals = NativeMemory.AllocZeroed(SigSetSize);
        var noSignals = NativeMemory.AllocZeroed(SigSetSize);
        try
        {
            posix_spawn_file_actions_init(actions);
            posix_spawn_file_actions_addopen(actions, 0, Utf8("/dev/null"), O_RDONLY, 0);
            posix_spawn_file_actions_addopen(actions, 1, Utf8(outputFile), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0b110_000_000);
            posix_spawn_file_actions_adddup2(actions, 1, 2);
            posix_spawn_file_actions_addclosefrom_np(actions, FirstInheritedDescriptorClosed);
            posix_spawnattr_init(attributes);
            // .NET ignores SIGPIPE, and an ignored signal survives exec: restore the defaults.
            sigfillset(allSignals);
            sigemptyset(noSignals);
            posix_spawnattr_setsigdefault(attributes, allSignals);
            posix_spawnattr_setsigmask(attributes, noSignals);
            posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

            int pid;
            var error = posix_spawn(&pid, Utf8(executable), actions, attributes,
                Array(argv), Array(environment.Select(kv => $"{kv.Key}={kv.Value}").ToList()));
            if (error != 0)
                throw SandboxErrors.SpawnFailed(executable, ErrorText(error));
            int status;
            while (wait4(pid, &status, 0, null) < 0)
                if (Marshal.GetLastPInvokeError() != EINTR) return -1;
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
        }
        finally
        {
            posix_spawn_file_actions_destroy(actions);
            posix_spawnattr_destroy(attributes);
            NativeMemory.Free(actions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(allSignals);
            NativeMemory.Free(noSignals);
            foreach (var pointer in strings) Marshal.FreeCoTaskMem(pointer);
            foreach (var block in blocks) NativeMemory.Free((void*)block);
        }
    }
}
