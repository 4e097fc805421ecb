using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Deletes images; refuses while derived images or sandboxes stand on one (naming them) unless
/// -Force, which removes those too and names each in a warning. Layers nothing uses any more go with it.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "SandboxImage", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveSandboxImageCommand : SandboxCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    [ImageNameTransformation]
    public string[] Name { get; set; } = Array.Empty<string>();

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var name in Name)
        {
            if (ShouldProcess(name, Force ? "Remove image and the derived images and sandboxes using it" : "Remove image"))
                Try(() =>
                {
                    foreach (var removed in Engine.RemoveImage(name, Force)) WriteWarning($"Removed {removed} with image '{name}'.");
                });
        }
    }
}
