namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// Keeps the sandbox object a user holds in step with the store: the engine records each command's
/// totals in state.json, so without this `$sb.CommandsRun` stays at 0 while Get-SandboxStat counts.
/// </summary>
internal static class SandboxRefresh
{
    public static void Totals(SandboxEngine engine, SandboxInfo held)
    {
        SandboxInfo stored;
        try { stored = engine.GetSandbox(held.Id); }
        catch (SandboxException) { return; } // removed meanwhile: nothing to refresh from
        held.CommandsRun = stored.CommandsRun;
        held.UserCpu = stored.UserCpu;
        held.SystemCpu = stored.SystemCpu;
        held.PeakMemoryBytes = stored.PeakMemoryBytes;
    }
}
