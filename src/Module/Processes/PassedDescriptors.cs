using Sandbox.Native;

namespace Sandbox.Processes;

/// <summary>
/// The descriptors of ours one backend is spawned holding, in order, and the one place that says
/// which number each has in it (<see cref="SpawnArguments.PassedDescriptorNumber"/>): a command line
/// names a descriptor by what <see cref="Pass"/> returned, never by a number of its own. Every
/// descriptor stays ours (close-on-exec here, so no other spawn inherits it) and must stay open until
/// the spawn has returned; only this spawn's child gets it, and everything else above stderr is closed
/// there (<see cref="SpawnArguments.KeepOnlyStdio"/>). The launch chain keeps them: the launch helper
/// closes nothing, and the host tools' sh closes only 3 to 9.
/// </summary>
internal sealed class PassedDescriptors
{
    private readonly List<int> _ours = new();

    /// <summary>Ours, in the order they are placed in the child.</summary>
    public IReadOnlyList<int> Ours => _ours;

    /// <summary>Adds <paramref name="ourDescriptor"/>; returns the number the child holds it under.</summary>
    public int Pass(int ourDescriptor)
    {
        if (ourDescriptor < 0) throw new ArgumentOutOfRangeException(nameof(ourDescriptor), "Only an open descriptor can be passed.");
        _ours.Add(ourDescriptor);
        return SpawnArguments.PassedDescriptorNumber(_ours.Count - 1);
    }
}
