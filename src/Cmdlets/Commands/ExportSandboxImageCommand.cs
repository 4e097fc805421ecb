using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Writes an image to a tarball (.tar.zst, .tar.gz, .tar) that New-SandboxImage -Path, another
/// machine, or `podman import` can take back, with owners, modes, links and xattrs intact.
/// </summary>
[Cmdlet(VerbsData.Export, "SandboxImage", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class ExportSandboxImageCommand : SandboxCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    [ImageNameTransformation]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var target = GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(target, $"Export image {Name}")) return;
        Try(() => WriteObject(Bridge.Run(cancellation => Engine.Images.Export(Name, target, Force, cancellation))));
    }
}
