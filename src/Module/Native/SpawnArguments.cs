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

    /// <summary>Closes every descriptor above stderr in the child, except <paramref name="kept"/> if given.</summary>
    public void KeepOnlyStdio(int? kept = null)
    {
        if (kept is not { } passed)
        {
            posix_spawn_file_actions_addclosefrom_np(Actions, FirstInheritedDescriptorClosed);
            return;
        }
        // dup2 onto itself clears close-on-exec in this child only (glibc >= 2.29); every other
        // inherited descriptor goes (glibc ignores closing one that is not open).
        posix_spawn_file_actions_adddup2(Actions, passed, passed);
        for (var fd = FirstInheritedDescriptorClosed; fd < passed; fd++) posix_spawn_file_actions_addclose(Actions, fd);
        posix_spawn_file_actions_addclosefrom_np(Actions, passed + 1);
    }

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
    }
}
