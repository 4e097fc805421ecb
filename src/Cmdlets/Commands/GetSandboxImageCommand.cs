using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>Lists the images in the store, by name with wildcards.</summary>
[Cmdlet(VerbsCommon.Get, "SandboxImage")]
[OutputType(typeof(SandboxImage))]
public sealed class GetSandboxImageCommand : SandboxCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    public string[] Name { get; set; } = { "*" };

    protected override void ProcessRecord()
    {
        foreach (var image in Matching(Engine.Images.List(), Name, (image, name) => Like(image.Name, name), SandboxErrors.ImageNotFound))
            WriteObject(image);
    }
}
