using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>Lists sandboxes, this process's and others', with their status (Ready or Orphaned).</summary>
[Cmdlet(VerbsCommon.Get, "Sandbox", DefaultParameterSetName = NameSet)]
[OutputType(typeof(SandboxInfo))]
public sealed class GetSandboxCommand : SandboxCmdlet
{
    private const string NameSet = "Name";
    private const string IdSet = "Id";

    [Parameter(Position = 0, ParameterSetName = NameSet, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    public string[] Name { get; set; } = { "*" };

    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    public string[] Id { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        var byId = ParameterSetName == IdSet;
        foreach (var sandbox in Matching(Engine.GetSandboxes(), byId ? Id : Name,
                     (sandbox, key) => Like(byId ? sandbox.Id : sandbox.Name, key), SandboxErrors.SandboxNotFound))
            WriteObject(sandbox);
    }
}
