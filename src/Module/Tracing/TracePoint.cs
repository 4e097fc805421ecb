using Sandbox.Storage;

namespace Sandbox.Tracing;

/// <summary>
/// What a provider tells the launch about tracing its backend: where in its argv the backend
/// starts (strace goes right before it: inside the rootless launcher's user namespace, after any
/// setuid helper such as newuidmap, which ptrace would strip of its privileges), the pid the
/// command gets in its pid namespace (null: the host's, no namespace), the host folder the calls'
/// paths are under (FakeChroot's copy), and the sandbox's root as a confined reader for the
/// package database.
/// </summary>
internal sealed record TracePoint(int BackendAt, int? CommandPid, string? HostRoot, Func<SandboxRootReader> Root, string StateFolder,
    string WorkingFolder)
{
    /// <summary>The tracer for <paramref name="command"/> when it asked for a trace; refused where the provider gave no point.</summary>
    public static CommandTracer? StartFor(SandboxCommand command, TracePoint? point)
    {
        if (!command.Trace) return null;
        if (point is null) throw SandboxErrors.TraceNotSupported("for commands in a -Boot machine");
        return new CommandTracer(point.StateFolder);
    }

    /// <summary>The command's trace from what strace wrote, with the packages of the image it used.</summary>
    public SandboxTrace Build(CommandTracer tracer, SandboxCommand command, IEngineLog log)
    {
        var collected = tracer.Finish();
        if (collected.Unparsed > 0) log.Verbose($"Trace: {collected.Unparsed} strace lines not understood (counted as dropped).");
        var trace = TraceInterpreter.Build(collected.Records, collected.Dropped, command.Argv, CommandPid, new TracePaths(HostRoot), WorkingFolder);
        return PackageOwners.Attach(trace, Root(), log);
    }
}
