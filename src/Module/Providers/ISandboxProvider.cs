using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// One way of running commands in a copy-on-write view of an image. The engine owns the state
/// folder and state.json; a provider owns what it keeps inside that folder and every process and
/// mount it makes, and must leave nothing behind after <see cref="Destroy"/>.
/// </summary>
public interface ISandboxProvider
{
    ProviderName Name { get; }

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

    /// <summary>Bytes in the sandbox's own layer and the paths it added, modified or deleted.</summary>
    LayerMeasurement Measure(SandboxInfo sandbox);
}

/// <summary>How far a sandbox has drifted from its image, measured in one pass.</summary>
public sealed record LayerMeasurement(long Bytes, IReadOnlyList<SandboxChange> Changes);
