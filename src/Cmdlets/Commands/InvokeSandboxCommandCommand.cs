using System.Collections;
using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Runs a command (an argv array, never a shell string) in a sandbox, or in a one-shot sandbox of
/// -Image that is removed afterwards, and returns its exit code, output and cost. -Check makes a
/// non-zero exit an error; -Stream writes stdout lines as they come instead of a result object.
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

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string[] Command { get; set; } = Array.Empty<string>();

    /// <summary>Sent to the command's stdin: text as lines, a byte array as it is.</summary>
    [Parameter]
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

    protected override void ProcessRecord()
    {
        var command = new SandboxCommand
        {
            Argv = Command,
            Environment = Parameters.Environment(Environment),
            StandardInput = Parameters.StandardInput(InputObject),
            WorkingDirectory = WorkingDirectory,
            User = User,
            Timeout = TimeoutSec > 0 ? TimeSpan.FromSeconds(TimeoutSec) : null,
        };

        if (ParameterSetName == SandboxSet)
        {
            Run(Sandbox!, command);
            return;
        }

        var oneShot = OrThrow(() => Engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = Image, Provider = Provider, Mounts = Parameters.Mounts(Bind, ReadOnlyBind),
            Network = MyInvocation.BoundParameters.ContainsKey(nameof(Network)) ? Network : null, // unset: the provider's default
        }));
        try { Run(oneShot, command); }
        finally { Try(() => Engine.RemoveSandbox(oneShot)); }
    }

    private void Run(SandboxInfo sandbox, SandboxCommand command)
    {
        SandboxCommandResult result;
        try
        {
            result = Bridge.Run(cancellation => Engine.Invoke(sandbox, command, new Processes.OutputLines(
                Stream ? line => Bridge.WriteObject(line) : null), cancellation));
        }
        catch (SandboxException e)
        {
            WriteError(ErrorRecords.From(e));
            return;
        }

        if (!Stream) WriteObject(result);
        var failed = result.ExitCode != 0;
        if (failed && (Check || Stream))
        {
            var error = SandboxErrors.CommandFailed(string.Join(' ', command.Argv), result.ExitCode, result.Signal);
            WriteError(new ErrorRecord(error, error.ErrorId, ErrorCategory.InvalidResult, result));
        }
    }
}
