using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Copies files or folders from the host into a sandbox folder, or with -FromSandbox from the
/// sandbox into a host folder. Paths in the sandbox resolve inside the sandbox only: a link planted
/// there never leads to a host file, and links are copied as links.
/// </summary>
[Cmdlet(VerbsCommon.Copy, "SandboxItem", SupportsShouldProcess = true)]
[OutputType(typeof(FileSystemInfo))]
public sealed class CopySandboxItemCommand : SandboxCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    [SandboxTransformation]
    public SandboxInfo? Sandbox { get; set; }

    /// <summary>What to copy: host paths, or with -FromSandbox paths in the sandbox.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Where to: a folder in the sandbox, or with -FromSandbox an existing host folder.</summary>
    [Parameter(Mandatory = true, Position = 2)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    [Parameter]
    public SwitchParameter FromSandbox { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var path in Path)
        {
            if (FromSandbox)
            {
                var hostFolder = GetUnresolvedProviderPathFromPSPath(Destination);
                if (!ShouldProcess($"{Sandbox!.Name}:{path}", $"Copy to {hostFolder}")) continue;
                Try(() =>
                {
                    var copied = Bridge.Run(cancellation => Engine.Items.CopyOutOf(Sandbox, path, hostFolder, cancellation));
                    if (PassThru) WriteObject(copied);
                });
            }
            else
            {
                var hostPath = GetUnresolvedProviderPathFromPSPath(path);
                if (!ShouldProcess(hostPath, $"Copy into {Sandbox!.Name}:{Destination}")) continue;
                Try(() => Bridge.Run(cancellation =>
                {
                    Engine.Items.CopyInto(Sandbox, hostPath, Destination, cancellation);
                    return true;
                }));
            }
        }
    }
}
