using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Tears sandboxes down (processes, mounts, files): given as objects, names or ids (as Invoke and
/// Get-SandboxStat take them), by -Name with wildcards, or all orphans (-Stale: sandboxes whose
/// owning process has died).
/// </summary>
[Cmdlet(VerbsCommon.Remove, "Sandbox", SupportsShouldProcess = true, DefaultParameterSetName = SandboxSet,
    ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(void))]
public sealed class RemoveSandboxCommand : SandboxCmdlet
{
    private const string SandboxSet = "Sandbox";
    private const string NameSet = "Name";
    private const string StaleSet = "Stale";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = SandboxSet, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    [SandboxTransformation]
    public SandboxInfo[] Sandbox { get; set; } = Array.Empty<SandboxInfo>();

    [Parameter(Mandatory = true, ParameterSetName = NameSet, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = StaleSet)]
    public SwitchParameter Stale { get; set; }

    protected override void ProcessRecord()
    {
        var targets = ParameterSetName switch
        {
            SandboxSet => Sandbox.ToList(),
            // One by one rather than ReapOrphans, so -WhatIf and -Confirm see each sandbox.
            StaleSet => Engine.GetSandboxes().Where(s => s.Status == SandboxStatus.Orphaned).ToList(),
            _ => ByName(),
        };
        foreach (var sandbox in targets)
        {
            if (ShouldProcess($"{sandbox.Name} ({sandbox.Provider}, {sandbox.StatePath})", "Remove sandbox"))
                Try(() => Engine.RemoveSandbox(sandbox));
        }
    }

    private List<SandboxInfo> ByName() =>
        Matching(Engine.GetSandboxes(), Name, (sandbox, name) => Like(sandbox.Name, name) || sandbox.Id == name, SandboxErrors.SandboxNotFound);
}
