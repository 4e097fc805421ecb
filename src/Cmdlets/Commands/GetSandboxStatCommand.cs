using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>What a sandbox has cost and how far it drifted from its image; -Changes lists each changed path.</summary>
[Cmdlet(VerbsCommon.Get, "SandboxStat")]
[OutputType(typeof(SandboxStat))]
[OutputType(typeof(SandboxChange))]
public sealed class GetSandboxStatCommand : SandboxCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    [SandboxTransformation]
    public SandboxInfo? Sandbox { get; set; }

    [Parameter]
    public SwitchParameter Changes { get; set; }

    protected override void ProcessRecord()
    {
        // Sorted by path (ordinal, as ls in the C locale), so a folder's changes come together.
        if (Changes)
            Try(() =>
            {
                foreach (var change in Engine.GetChanges(Sandbox!).OrderBy(c => c.Path, StringComparer.Ordinal))
                    WriteObject(change);
            });
        else Try(() => WriteObject(Engine.GetStat(Sandbox!)));
    }
}
