using System.Collections;
using System.Management.Automation;
using Sandbox.Commands.Infrastructure;
using Sandbox.Images;
using Sandbox.Images.Derive;

namespace Sandbox.Commands;

/// <summary>
/// Builds an image with mmdebstrap/debootstrap (-Suite), imports a root filesystem (-Path), derives
/// one from another by running a step in a fresh sandbox of it (-From with -Run or -Script), or
/// publishes an existing sandbox's current state (-Sandbox). A derived image is its parent plus a
/// layer of its own. The same parameters (for a derived image: the same parent content and step)
/// again return the cached image without any work; -Force rebuilds.
/// </summary>
[Cmdlet(VerbsCommon.New, "SandboxImage", SupportsShouldProcess = true, DefaultParameterSetName = BuildSet)]
[OutputType(typeof(SandboxImage))]
public sealed class NewSandboxImageCommand : SandboxCmdlet
{
    private const string BuildSet = "Build";
    private const string ImportSet = "Import";
    // One set for -Run and -Script: with two, -From alone could not tell PowerShell which, and the
    // positional words of a step would be refused. Exactly one of them is checked when it runs.
    private const string DeriveSet = "Derive";
    private const string CommitSet = "Commit";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = BuildSet)]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = ImportSet)]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = DeriveSet)]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = CommitSet)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = BuildSet)]
    [ValidateNotNullOrEmpty]
    public string Suite { get; set; } = "";

    [Parameter(ParameterSetName = BuildSet)]
    public string? Mirror { get; set; }

    [Parameter(ParameterSetName = BuildSet)]
    [ValidateSet("minbase", "buildd", "required", "important", "standard", "essential", "apt", "custom", "fakechroot")]
    public string Variant { get; set; } = "minbase";

    [Parameter(ParameterSetName = BuildSet)]
    public string[]? Include { get; set; }

    [Parameter(ParameterSetName = BuildSet)]
    public string[]? Components { get; set; }

    [Parameter(ParameterSetName = BuildSet)]
    public string? Architecture { get; set; }

    /// <summary>mmdebstrap's mode; Fakechroot makes an image the FakeChroot provider can use rootless.</summary>
    [Parameter(ParameterSetName = BuildSet)]
    [ValidateSet("Auto", "Root", "Unshare", "Fakechroot")]
    public string Mode { get; set; } = "Auto";

    [Parameter(Mandatory = true, ParameterSetName = ImportSet, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The parent image a step runs on.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DeriveSet)]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    [ImageNameTransformation]
    [ValidateNotNullOrEmpty]
    public string From { get; set; } = "";

    /// <summary>The step's program and arguments: an array, or the words that follow -Run.</summary>
    [Parameter(Position = 1, ValueFromRemainingArguments = true, ParameterSetName = DeriveSet)]
    public string[]? Run { get; set; }

    /// <summary>A host file copied into the sandbox and run by its shebang (else with sh); its bytes are part of the cache key.</summary>
    [Parameter(ParameterSetName = DeriveSet)]
    [ValidateNotNullOrEmpty]
    public string? Script { get; set; }

    [Parameter(ParameterSetName = DeriveSet)]
    public Hashtable? Environment { get; set; }

    /// <summary>Host by default: provisioning downloads packages, as -Suite builds do. None for a hermetic step.</summary>
    [Parameter(ParameterSetName = DeriveSet)]
    public NetworkMode Network { get; set; } = NetworkMode.Host;

    /// <summary>
    /// Runs the step: Bubblewrap, Nspawn, or FakeChroot (unprivileged users only; its layer is its
    /// private copy's difference from the parent, with the owners faked recorded). Part of the cache key.
    /// </summary>
    [Parameter(ParameterSetName = DeriveSet)]
    public ProviderName Provider { get; set; } = ProviderName.Auto;

    [Parameter(ParameterSetName = DeriveSet)]
    public string[]? Bind { get; set; }

    [Parameter(ParameterSetName = DeriveSet)]
    public string[]? ReadOnlyBind { get; set; }

    /// <summary>The sandbox whose current state becomes the image (its image plus its writes so far).</summary>
    [Parameter(Mandatory = true, ParameterSetName = CommitSet, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    [SandboxTransformation]
    public SandboxInfo? Sandbox { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        switch (ParameterSetName)
        {
            case DeriveSet: Derive(); break;
            case CommitSet: Commit(); break;
            default: BuildOrImport(); break;
        }
    }

    private void BuildOrImport()
    {
        var importing = ParameterSetName == ImportSet;
        var source = importing ? GetUnresolvedProviderPathFromPSPath(Path) : $"{Suite} ({Variant})";
        if (!ShouldProcess(Name, importing ? $"Import image from {source}" : $"Build image {source}")) return;

        Try(() => WriteObject(Bridge.Run(cancellation => importing
            ? Engine.Images.Import(Name, source, Force, cancellation)
            : Engine.Images.Build(Name, new ImageBuildOptions
            {
                Suite = Suite, Mirror = Mirror, Variant = Variant,
                Include = Include ?? Array.Empty<string>(), Components = Components ?? Array.Empty<string>(),
                Architecture = Architecture,
                Mode = Mode == "Auto" ? null : Mode.ToLowerInvariant(),
            }, Force, cancellation))));
    }

    private void Derive()
    {
        var scripted = Script is not null;
        if (scripted == Run is { Length: > 0 })
        {
            Try(() => throw SandboxErrors.DeriveNeedsOneStep(Name));
            return;
        }
        var what = scripted ? $"script {Script}" : string.Join(' ', Run!);
        if (!ShouldProcess(Name, $"Derive image from '{From}' by running {what}")) return;
        Try(() =>
        {
            var step = new DeriveStep
            {
                Name = Name, From = From,
                Argv = scripted ? Array.Empty<string>() : Run!,
                Script = scripted ? DeriveStep.ReadScript(GetUnresolvedProviderPathFromPSPath(Script!)) : null,
                Environment = Parameters.Environment(Environment),
                Network = Network, Provider = Provider, Force = Force,
                Mounts = Parameters.Mounts(Bind, ReadOnlyBind),
            };
            WriteObject(Bridge.Run(cancellation => Engine.DeriveImage(step, cancellation)));
        });
    }

    private void Commit()
    {
        if (!ShouldProcess(Name, $"Publish the current state of sandbox '{Sandbox!.Name}' as an image")) return;
        // A sandbox's state changes with every command, so a commit is never a cache hit: the time
        // makes its parameters unique, and an existing name needs -Force.
        var parameters = new Dictionary<string, string>
        {
            ["CommittedFrom"] = Sandbox.Id, ["CommittedAt"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        Try(() => WriteObject(Bridge.Run(cancellation => Engine.CommitSandbox(Sandbox.Id, Name, parameters, Force, cancellation))));
    }
}
