using System.Runtime.InteropServices;
using static Sandbox.Native.LibC;

namespace Sandbox.Native;

/// <summary>
/// The native arguments of one posix_spawn call, made and freed together: file actions, attributes
/// and the strings of argv and envp. Every spawn of ours restores the default signal dispositions
/// and an empty mask (.NET ignores SIGPIPE and blocks signals on its threads; both survive exec),
/// and leaves the child only the descriptors its file actions set up (<see cref="KeepOnlyStdio"/>).
/// </summary>
internal sealed unsafe class SpawnArguments : IDisposable
{
    private readonly void* _allSignals = NativeMemory.AllocZeroed(SigSetSize);
    private readonly void* _noSignals = NativeMemory.AllocZeroed(SigSetSize);
    private readonly List<nint> _strings = new();
    private readonly List<nint> _arrays = new();

    public SpawnArguments(short flags)
    {
        Actions = NativeMemory.AllocZeroed(SpawnFileActionsSize);
        Attributes = NativeMemory.AllocZeroed(SpawnAttrSize);
        posix_spawn_file_actions_init(Actions);
        posix_spawnattr_init(Attributes);
        sigfillset(_allSignals);
        sigemptyset(_noSignals);
        posix_spawnattr_setsigdefault(Attributes, _allSignals);
        posix_spawnattr_setsigmask(Attributes, _noSignals);
        posix_spawnattr_setflags(Attributes, (short)(flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
    }

    public void* Actions { get; }
    public void* Attributes { get; }

    /// <summary>
    /// The number the first passed descriptor has in the child (<see cref="KeepOnlyStdio"/>), whatever
    /// its number here; the next ones follow it (<see cref="PassedDescriptorNumber"/>). Fixed, so that the
    /// child's closing is one closefrom above them plus the few below, never a close per descriptor this
    /// process holds (pwsh holds ~170: as many close calls in the vfork child, and as many getrlimit
    /// calls here, one per file action, on every command).
    /// Above 9: the launch chain's sh closes descriptors 3 to 9 (time's report) before the backend.
    /// </summary>
    public const int FirstPassedDescriptorNumber = 10;

    /// <summary>The number the passed descriptor at <paramref name="index"/> of the spawn's list has in the child.</summary>
    public static int PassedDescriptorNumber(int index) => FirstPassedDescriptorNumber + index;

    /// <summary>Our close-on-exec copies of passed descriptors that sat where another one goes (see <see cref="KeepOnlyStdio"/>).</summary>
    private readonly Dictionary<int, int> _movedCopies = new();

    /// <summary>
    /// Closes every descriptor above stderr in the child; each of <paramref name="passed"/> (ours, in
    /// order) is first placed at <see cref="PassedDescriptorNumber"/> of its index (without close-on-exec
    /// there) and so survives.
    /// </summary>
    public void KeepOnlyStdio(IReadOnlyList<int>? passed = null)
    {
        if (passed is not { Count: > 0 })
        {
            posix_spawn_file_actions_addclosefrom_np(Actions, FirstInheritedDescriptorClosed);
            return;
        }
        var end = PassedDescriptorNumber(passed.Count);
        for (var index = 0; index < passed.Count; index++)
        {
            // One of ours that sits where an earlier one is placed would be replaced before it is
            // copied: a copy above the whole range is passed instead (closed with this spawn).
            var source = passed[index];
            if (source >= FirstPassedDescriptorNumber && source < end && source != PassedDescriptorNumber(index))
                source = MoveAbove(source, end);
            // After the stdio dup2s (the caller's file actions come first), so a stdio source that happens
            // to be descriptor 10 here has been copied before it is replaced. dup2 onto another number
            // leaves the copy without close-on-exec; onto itself it clears the flag (glibc >= 2.29).
            posix_spawn_file_actions_adddup2(Actions, source, PassedDescriptorNumber(index));
        }
        // glibc ignores closing one that is not open; the originals, if above, go with closefrom.
        for (var fd = FirstInheritedDescriptorClosed; fd < FirstPassedDescriptorNumber; fd++) posix_spawn_file_actions_addclose(Actions, fd);
        posix_spawn_file_actions_addclosefrom_np(Actions, end);
    }

    private int MoveAbove(int fd, int lowest)
    {
        if (_movedCopies.TryGetValue(fd, out var moved)) return moved;
        var copy = fcntl(fd, F_DUPFD_CLOEXEC, lowest);
        if (copy < 0) throw new IOException($"fcntl(F_DUPFD_CLOEXEC) of descriptor {fd} failed: {ErrorText(Marshal.GetLastPInvokeError())}");
        _movedCopies[fd] = copy;
        return copy;
    }

    private const int F_DUPFD_CLOEXEC = 1030;

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    public byte* Utf8(string text)
    {
        var block = Marshal.StringToCoTaskMemUTF8(text);
        _strings.Add(block);
        return (byte*)block;
    }

    /// <summary>A NULL-terminated array of strings, as argv and envp are.</summary>
    public byte** Array(IReadOnlyList<string> items)
    {
        var array = (byte**)NativeMemory.AllocZeroed((nuint)(items.Count + 1), (nuint)sizeof(nint));
        _arrays.Add((nint)array);
        for (var i = 0; i < items.Count; i++) array[i] = Utf8(items[i]);
        return array;
    }

    public byte** Environment(IReadOnlyDictionary<string, string> environment) =>
        Array(environment.Select(kv => $"{kv.Key}={kv.Value}").ToList());

    public void Dispose()
    {
        posix_spawn_file_actions_destroy(Actions);
        posix_spawnattr_destroy(Attributes);
        NativeMemory.Free(Actions);
        NativeMemory.Free(Attributes);
        NativeMemory.Free(_allSignals);
        NativeMemory.Free(_noSignals);
        foreach (var block in _strings) Marshal.FreeCoTaskMem(block);
        foreach (var array in _arrays) NativeMemory.Free((void*)array);
        foreach (var copy in _movedCopies.Values) close(copy);
    }
}
