using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>Shows each provider: can it run here, why not, root, isolation and copy-on-write method.</summary>
[Cmdlet(VerbsCommon.Get, "SandboxProvider")]
[OutputType(typeof(SandboxProviderInfo))]
public sealed class GetSandboxProviderCommand : SandboxCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string[] Name { get; set; } = { "*" };

    protected override void ProcessRecord()
    {
        foreach (var provider in Engine.GetProviders().Where(p => Name.Any(pattern => Like(p.Name, pattern))))
            WriteObject(provider);
    }
}
