using System.Collections;
using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Runs a command (an argv array, never a shell string) in a sandbox, or in a one-shot sandbox of
/// -Image that is removed afterwards, and returns its exit code, output and cost. The command's
/// words follow the sandbox as they would a native command (Invoke-SandboxCommand $sb uname -a).
/// Pipeline input is the command's stdin, collected and sent once, as for a native command; piped
/// sandboxes instead run the command once in each. -Check makes a failure a terminating error;
/// -Stream writes stdout lines as they come, and stderr lines to the error stream.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "SandboxCommand", DefaultParameterSetName = SandboxSet)]
[OutputType(typeof(SandboxCommandResult), ParameterSetName = new[] { SandboxSet, ImageSet })]
[OutputType(typeof(string))]
public sealed class InvokeSandboxCommandCommand : SandboxCmdlet
{
    private const string SandboxSet = "Sandbox";
    private const string ImageSet = "Image";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = SandboxSet, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    [SandboxTransformation]
    public SandboxInfo? Sandbox { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ImageSet)]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    [ImageNameTransformation]
    public string Image { get; set; } = "";

    [Parameter(ParameterSetName = ImageSet)]
    public ProviderName Provider { get; set; } = ProviderName.Auto;

    [Parameter(ParameterSetName = ImageSet)]
    public string[]? Bind { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public string[]? ReadOnlyBind { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public NetworkMode Network { get; set; } = NetworkMode.None;

    /// <summary>The one-shot sandbox's root is read-only (EROFS) except -WritablePath folders, -Bind targets, /dev, /proc and /run.</summary>
    [Parameter(ParameterSetName = ImageSet)]
    public SwitchParameter ReadOnlyRoot { get; set; }

    /// <summary>In-sandbox folders left writable under -ReadOnlyRoot.</summary>
    [Parameter(ParameterSetName = ImageSet)]
    public string[]? WritablePath { get; set; }

    /// <summary>The program and its arguments: an array, or the words that follow the sandbox.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromRemainingArguments = true)]
    [ValidateNotNullOrEmpty]
    public string[] Command { get; set; } = Array.Empty<string>();

    /// <summary>Sent to the command's stdin: text as lines, a byte array as it is.</summary>
    [Parameter(ValueFromPipeline = true)]
    public object[]? InputObject { get; set; }

    [Parameter]
    public string? WorkingDirectory { get; set; }

    [Parameter]
    public Hashtable? Environment { get; set; }

    [Parameter]
    public string? User { get; set; }

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int TimeoutSec { get; set; }

    [Parameter]
    public SwitchParameter Check { get; set; }

    [Parameter]
    public SwitchParameter Stream { get; set; }

    /// <summary>Trace the command (strace on the host side): the result's Trace lists its files, processes, connects and packages.</summary>
    [Parameter]
    public SwitchParameter Trace { get; set; }

    private bool _sandboxesPiped;
    private readonly List<object> _stdin = new();

    protected override void BeginProcessing()
    {
        // Only what the command line bound is known here: without -Sandbox and -Image there, the
        // pipeline brings the sandboxes, and the command runs once for each.
        _sandboxesPiped = !MyInvocation.BoundParameters.ContainsKey(nameof(Sandbox))
                          && !MyInvocation.BoundParameters.ContainsKey(nameof(Image));
    }

    protected override void ProcessRecord()
    {
        if (_sandboxesPiped && Sandbox is not null)
        {
            Run(Sandbox, NewCommand(InputObject));
            return;
        }
        if (InputObject is not null) _stdin.AddRange(InputObject);
    }

    protected override void EndProcessing()
    {
        try
        {
            if (_sandboxesPiped) return;
            var command = NewCommand(_stdin.Count > 0 ? _stdin.ToArray() : null);
            if (ParameterSetName == SandboxSet)
            {
                Run(Sandbox!, command);
                return;
            }
            var oneShot = OrThrow(() => Engine.CreateSandbox(new SandboxCreateOptions
            {
                Image = Image, Provider = Provider, Mounts = Parameters.Mounts(Bind, ReadOnlyBind),
                Network = MyInvocation.BoundParameters.ContainsKey(nameof(Network)) ? Network : null, // unset: the provider's default
                ReadOnlyRoot = ReadOnlyRoot, WritablePaths = WritablePath ?? Array.Empty<string>(),
            }));
            try { Run(oneShot, command); }
            finally { Try(() => Engine.RemoveSandbox(oneShot)); }
        }
        finally { base.EndProcessing(); }
    }

    private SandboxCommand NewCommand(object[]? stdin) => new()
    {
        Argv = Command,
        Environment = Parameters.Environment(Environment),
        StandardInput = Parameters.StandardInput(stdin),
        WorkingDirectory = WorkingDirectory,
        User = User,
        Timeout = TimeoutSec > 0 ? TimeSpan.FromSeconds(TimeoutSec) : null,
        Trace = Trace,
    };

    /// <summary>
    /// Runs the command in <paramref name="sandbox"/>, the object the user holds: the engine gives
    /// it the sandbox's new totals as it records them ($sb.CommandsRun counts), with no re-read
    /// of the store after each command.
    /// </summary>
    private void Run(SandboxInfo sandbox, SandboxCommand command)
    {
        SandboxCommandResult result;
        try
        {
            result = Bridge.Run(cancellation => Engine.Invoke(sandbox, command, new Processes.OutputLines(
                StdOut: Stream ? line => Bridge.WriteObject(line) : null,
                StdErr: Stream ? line => Bridge.WriteError(StdErrRecord.For(line)) : null), cancellation));
        }
        catch (SandboxException e)
        {
            Fail(ErrorRecords.From(Explained(e, command)));
            return;
        }
        WriteResult(result, command);
    }

    /// <summary>The result, or the error a failing exit is under -Check or -Stream.</summary>
    private void WriteResult(SandboxCommandResult result, SandboxCommand command)
    {
        WarnIfIncomplete(result);
        var failed = result.ExitCode != 0;
        if (failed && Check)
        {
            // Terminating, so try/catch and Pester see it; the result rides along as the target.
            var error = SandboxErrors.CommandFailed(string.Join(' ', command.Argv), result.ExitCode, result.Signal, result.StdErr);
            ThrowTerminatingError(new ErrorRecord(error, error.ErrorId, ErrorCategory.InvalidResult, result));
        }
        if (!Stream) WriteObject(Traced(result));
        if (failed && Stream)
        {
            // Its stderr has been written already, line by line.
            var error = SandboxErrors.CommandFailed(string.Join(' ', command.Argv), result.ExitCode, result.Signal);
            WriteError(new ErrorRecord(error, error.ErrorId, ErrorCategory.InvalidResult, result));
        }
    }

    /// <summary>A traced result's default view adds the trace's one-line summary (Sandbox.Trace.Format.ps1xml).</summary>
    private static object Traced(SandboxCommandResult result)
    {
        if (result.Trace is null) return result;
        var wrapped = PSObject.AsPSObject(result);
        wrapped.TypeNames.Insert(0, "Sandbox.SandboxCommandResult#Traced");
        return wrapped;
    }

    /// <summary>A result that does not hold all the output says so, and how to get it all.</summary>
    private void WarnIfIncomplete(SandboxCommandResult result)
    {
        if (result.OutputCutOff)
            WriteWarning(SandboxErrors.OutputCutOff(result.StdOutTruncated ? "StdOut" : "StdErr",
                result.StdOutTruncated ? result.StdOutLength : result.StdErrLength).Message);
        else
        {
            // With -Stream every stdout line was written to the pipeline: nothing was lost.
            if (result.StdOutTruncated && !Stream)
                WriteWarning(SandboxErrors.OutputTruncated("StdOut", result.StdOutLength, result.StdOutBytes.Length).Message);
            if (result.StdErrTruncated && !Stream)
                WriteWarning(SandboxErrors.OutputTruncated("StdErr", result.StdErrLength, Processes.ProcessSpec.DefaultOutputLimit).Message);
        }
    }

    /// <summary>With -Check any failure stops the script; without, it is a non-terminating error.</summary>
    private void Fail(ErrorRecord record)
    {
        if (Check) ThrowTerminatingError(record);
        WriteError(record);
    }

    private static SandboxException Explained(SandboxException error, SandboxCommand command) =>
        error.ErrorId == "CommandNotFound" && command.Argv.Count == 1 && command.Argv[0].Trim().Contains(' ')
            ? SandboxErrors.CommandNotFoundAsOneString(error, command.Argv[0])
            : error;
}
