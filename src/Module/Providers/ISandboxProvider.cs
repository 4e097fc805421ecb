using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// One way of running commands in a copy-on-write view of an image. The engine owns the state
/// folder and state.json; a provider owns what it keeps inside that folder and every process and
/// mount it makes, and must leave nothing behind after <see cref="Destroy"/>.
/// </summary>
internal interface ISandboxProvider
{
    ProviderName Name { get; }

    /// <summary>
    /// Whether several commands may run in one sandbox at once. False when each command mounts its
    /// own view of the sandbox's layer (two overlays over one upper directory are undefined
    /// behaviour in the kernel): the engine then queues the sandbox's commands behind a lock in its
    /// state folder (flock, so across processes too), in the order they come.
    /// </summary>
    bool CommandsRunConcurrently { get; }

    /// <summary>Whether this provider can run here for this user, and if not why and what to install.</summary>
    SandboxProviderInfo Probe();

    /// <summary>Prepares the provider's part of a new sandbox's state folder.</summary>
    void Create(SandboxInfo sandbox);

    /// <summary>
    /// Runs one command to completion. Throws CommandNotFound when the command cannot be started
    /// and SandboxSetupFailed when the sandbox itself could not be set up; otherwise returns how the
    /// command ended, whatever its exit code.
    /// </summary>
    ProcessOutcome Run(SandboxInfo sandbox, SandboxCommand command, OutputLines lines,
        CancellationToken cancellation);

    /// <summary>Runs a command on the caller's terminal and returns its exit code.</summary>
    int RunInteractive(SandboxInfo sandbox, SandboxCommand command);

    /// <summary>Stops whatever of the sandbox still runs and undoes its mounts.</summary>
    void Destroy(SandboxInfo sandbox);

    /// <summary>
    /// Processes of the sandbox that left the trees of its commands' backends (which the engine
    /// kills from their records), found by kernel facts about them, never by text. None for the
    /// namespace providers: a command's pid namespace dies with its backend.
    /// </summary>
    IReadOnlyList<Native.ProcessIdentity> Stragglers(SandboxInfo sandbox) => Array.Empty<Native.ProcessIdentity>();

    /// <summary>Bytes in the sandbox's own layer and the paths it added, modified or deleted.</summary>
    LayerMeasurement Measure(SandboxInfo sandbox);
}

/// <summary>How far a sandbox has drifted from its image, measured in one pass.</summary>
internal sealed record LayerMeasurement(long Bytes, IReadOnlyList<SandboxChange> Changes);
