using System.Management.Automation;
using Sandbox.Commands.Infrastructure;
using Sandbox.Images;

namespace Sandbox.Commands;

/// <summary>
/// Builds an image with mmdebstrap/debootstrap (-Suite) or imports a root filesystem (-Path).
/// The same parameters again return the cached image without rebuilding; -Force rebuilds.
/// </summary>
[Cmdlet(VerbsCommon.New, "SandboxImage", SupportsShouldProcess = true, DefaultParameterSetName = BuildSet)]
[OutputType(typeof(SandboxImage))]
public sealed class NewSandboxImageCommand : SandboxCmdlet
{
    private const string BuildSet = "Build";
    private const string ImportSet = "Import";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
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

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
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
}
