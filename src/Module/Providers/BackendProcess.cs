using Sandbox.Native;
using Sandbox.Processes;

namespace Sandbox.Providers;

/// <summary>
/// How every provider starts its backend (bwrap, systemd-nspawn, fakechroot) for a command: the
/// command line logged shell-quoted at verbose level, then either run to completion with the
/// kernel's accounting (peak memory measured by our launch helper, or time(1) where it cannot run,
/// see PeakMemoryMeter) or handed the caller's terminal. With the helper (x86-64) the whole chain
/// is one exec of ours before the backend (see <see cref="LaunchHelper"/>); what follows describes
/// the chain of host tools used elsewhere, whose guarantees the helper keeps.
/// The chain from us to the backend dies with us: each link that would otherwise survive its
/// parent (time, and the backend below time) starts under <c>setpriv --pdeathsig KILL</c>, so a
/// kill -9 of the engine kills time, whose death kills the backend (bwrap then takes its pid
/// namespace with it; nspawn its container). A backend that asks the kernel for that signal
/// itself (bwrap --die-with-parent sets PR_SET_PDEATHSIG on its own first process, before it
/// clones the sandbox) needs no setpriv of its own: each link is an exec, a few ms each. The kernel sends the parent-death signal when the
/// spawning THREAD ends: NativeProcessRunner spawns and waits on the caller's thread, which lives
/// until the backend is reaped. The spawned pid is recorded for the sandbox (RunningCommands) while
/// it runs, so removal from any process finds it by its identity.
/// </summary>
internal static class BackendProcess
{
    /// <summary>The environment the backend itself runs with; the command's own is composed apart.</summary>
    public static Dictionary<string, string> HostEnvironment() => new()
    {
        ["PATH"] = ToolLocator.SystemPath,
        ["LANG"] = "C.UTF-8",
        ["TERM"] = Environment.GetEnvironmentVariable("TERM") ?? "dumb",
    };

    /// <param name="ownPidNamespace">
    /// As root, run the backend as the first process of a pid namespace that dies with its parent:
    /// for a backend that leaves processes behind when SIGKILLed (systemd-nspawn keeps its
    /// container running), so that nothing of the command outlives the engine.
    /// </param>
    /// <param name="backendDiesWithParent">
    /// <paramref name="argv"/>[0] itself sets SIGKILL as its parent-death signal the moment it
    /// starts (bwrap --die-with-parent, exec'd directly): no setpriv is put before it.
    /// </param>
    /// <param name="program">
    /// Start <paramref name="argv"/> as a program of its own with no backend before it: the file to
    /// execute (argv[0] is only the name the program is given) and the folder it starts in. Needs
    /// the launch helper (<see cref="StartsPrograms"/>); not traced.
    /// </param>
    public static ProcessOutcome Run(IEngineLog log, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment,
        SandboxCommand command, OutputLines lines, CancellationToken cancellation, bool ownPidNamespace = false,
        bool backendDiesWithParent = false, PassedDescriptors? passed = null, Tracing.TracePoint? tracePoint = null,
        (string File, string Folder)? program = null)
    {
        if (program is { } start) return RunProgram(log, argv, environment, command, lines, cancellation, start);
        // -Trace: strace goes right before the backend (see Tracing.CommandTracer); it does not set a
        // parent-death signal of its own, so a setpriv goes before it when it would lead the chain.
        using var tracer = Tracing.TracePoint.StartFor(command, tracePoint);
        if (tracer is not null)
        {
            argv = tracer.Wrap(argv, tracePoint!.BackendAt);
            if (tracePoint.BackendAt == 0) backendDiesWithParent = false;
        }
        log.Verbose(ShellQuote.Join(argv));
        var outcome = RunMetered(meter => Chain(meter, argv, ownPidNamespace, backendDiesWithParent), environment, command, lines, cancellation, passed);
        return tracer is null ? outcome : outcome with { Trace = tracePoint!.Build(tracer, command, log) };
    }

    /// <summary>
    /// The command line <paramref name="launch"/> makes around the meter, run to completion as the
    /// sandbox's recorded command, with the peak memory the meter measured.
    /// </summary>
    private static ProcessOutcome RunMetered(Func<PeakMemoryMeter, IReadOnlyList<string>> launch, IReadOnlyDictionary<string, string> environment,
        SandboxCommand command, OutputLines lines, CancellationToken cancellation, PassedDescriptors? passed = null)
    {
        using var meter = new PeakMemoryMeter();
        var outcome = NativeProcessRunner.Run(new ProcessSpec
        {
            Argv = launch(meter),
            Started = RunningCommands.Started,
            Environment = environment,
            StandardInput = command.StandardInput,
            Timeout = command.Timeout,
            BinaryStdOut = command.BinaryStdOut,
            StdOutConsumer = command.StdOutConsumer,
            PassedDescriptors = passed,
        }, lines.StdOut, cancellation, lines.StdErr);
        return meter.Correct(outcome);
    }

    /// <summary>Whether <see cref="Run"/> can start a program itself (its <c>program</c> parameter): the launch helper runs here.</summary>
    public static bool StartsPrograms => LaunchHelper.PathStartingInFolder() is not null;

    private static ProcessOutcome RunProgram(IEngineLog log, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment,
        SandboxCommand command, OutputLines lines, CancellationToken cancellation, (string File, string Folder) program)
    {
        var helper = LaunchHelper.PathStartingInFolder() ?? throw new InvalidOperationException("The launch helper cannot run here: check BackendProcess.StartsPrograms first.");
        // Said as the shell would say it: bash's exec -a gives a program another name than its file's.
        log.Verbose($"cd {ShellQuote.Quote(program.Folder)} && exec -a {ShellQuote.Quote(argv[0])} {ShellQuote.Join(argv.Skip(1).Prepend(program.File))}");
        return RunMetered(meter => meter.WrapWithHelper(helper, new[] { program.File, program.Folder }.Concat(argv).ToList())!,
            environment, command, lines, cancellation);
    }

    /// <summary>
    /// The whole command line from us to the backend. With the <see cref="LaunchHelper"/>: the
    /// helper (the parent-death signals, the fork whose rusage is the command's, and as root the
    /// pid namespace with its own mount namespace and /proc), then the backend: one exec. Where the
    /// helper cannot run, the host's tools: setpriv, time (with the sh that closes its report),
    /// [setpriv unless the backend dies with its parent by itself], [unshare], backend.
    /// </summary>
    internal static IReadOnlyList<string> Chain(PeakMemoryMeter meter, IReadOnlyList<string> argv, bool ownPidNamespace, bool backendDiesWithParent) =>
        Chain(meter, argv, ownPidNamespace, backendDiesWithParent, LaunchHelper.Path(ownPidNamespace && UserIdentity.IsRoot));

    /// <param name="helper">The launch helper's path, or null for the chain of host tools.</param>
    internal static IReadOnlyList<string> Chain(PeakMemoryMeter meter, IReadOnlyList<string> argv, bool ownPidNamespace, bool backendDiesWithParent, string? helper)
    {
        if (helper is not null && meter.WrapWithHelper(helper, WithAbsoluteProgram(argv)) is { } launched)
            return launched;
        var backend = ownPidNamespace ? InNamespaceThatDiesWithParent(argv) : argv;
        // unshare (ownPidNamespace) does not ask for a parent-death signal for itself: only for its child.
        if (!backendDiesWithParent || ownPidNamespace) backend = DiesWithParent(backend);
        return DiesWithParent(meter.Wrap(backend));
    }

    /// <summary>
    /// Whether <see cref="Run"/> with ownPidNamespace puts the backend in a private mount namespace
    /// of its own (with a /proc of its pid namespace): the helper does, and so does unshare
    /// --mount-proc, whose --mount is private by default. Then the backend needs no unshare --mount.
    /// </summary>
    public static bool OwnPidNamespaceHasOwnMountNamespace => UserIdentity.IsRoot
        && (LaunchHelper.Path(ownPidNamespace: true) is not null || LaunchChainTools.Unshare is not null);

    /// <summary>Whether <see cref="Run"/> starts the backend through the static <see cref="LaunchHelper"/> (no host tool before it).</summary>
    public static bool LaunchesThroughHelper(bool ownPidNamespace) => LaunchHelper.Path(ownPidNamespace && UserIdentity.IsRoot) is not null;

    /// <summary>The helper execs without a search: the backend's program as an absolute path.</summary>
    private static IReadOnlyList<string> WithAbsoluteProgram(IReadOnlyList<string> argv) =>
        argv.Count == 0 || argv[0].StartsWith('/') ? argv
            : new[] { ToolLocator.Find(argv[0]) ?? throw SandboxErrors.ExecutableNotFound(argv[0]) }.Concat(argv.Skip(1)).ToList();

    /// <param name="passed">Descriptors of ours the backend is spawned holding; setpriv before it keeps them.</param>
    public static int RunInteractive(IEngineLog log, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment,
        PassedDescriptors? passed = null)
    {
        log.Verbose(ShellQuote.Join(argv));
        return InteractiveProcessRunner.Run(DiesWithParent(argv), environment, passed);
    }

    /// <summary>
    /// As root, <paramref name="argv"/> as the first process of a pid namespace of its own that is
    /// killed when its parent dies (unshare --kill-child). The kernel then ends every process in
    /// it, containers nested below included, which no link between us and a container can do.
    /// It gets a /proc of its own (--mount-proc, in a private mount namespace): nspawn reads its
    /// own entries there by the pid it sees ("Failed to open parent network namespace" otherwise).
    /// Bubblewrap does not need it (--die-with-parent ends its own pid namespace); rootless it
    /// could not be made without a user namespace.
    /// </summary>
    private static IReadOnlyList<string> InNamespaceThatDiesWithParent(IReadOnlyList<string> argv) =>
        UserIdentity.IsRoot && LaunchChainTools.Unshare is { } unshare
            ? new[] { unshare, "--pid", "--fork", "--mount-proc", "--kill-child=KILL", "--" }.Concat(argv).ToList()
            : argv;

    /// <summary>
    /// <paramref name="argv"/> killed (SIGKILL) when its parent dies. setpriv comes with util-linux,
    /// which every provider needs anyway; without it the chain runs as before.
    /// </summary>
    private static IReadOnlyList<string> DiesWithParent(IReadOnlyList<string> argv) =>
        LaunchChainTools.Setpriv is { } setpriv ? new[] { setpriv, "--pdeathsig", "KILL", "--" }.Concat(argv).ToList() : argv;
}
