using System.Management.Automation;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// What importing the module does: reap the current user's orphaned sandboxes (their owner died
/// without removing them), and see that a normal exit of this process removes the sandboxes it
/// made without -Keep. Neither may ever break an import or an exit, so failures are swallowed.
/// </summary>
public sealed class ModuleLifetime : IModuleAssemblyInitializer
{
    private static int _exitHookRegistered;

    public void OnImport()
    {
        try { SandboxEngine.Open().ReapOrphans(); }
        catch (Exception) { /* a store we cannot read yet is no reason to fail Import-Module */ }

        if (Interlocked.Exchange(ref _exitHookRegistered, 1) == 0)
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try { SandboxEngine.Open().RemoveSandboxesOfThisProcess(); }
                catch (Exception) { /* best effort at exit; -Stale reaps what is left */ }
            };
    }
}
