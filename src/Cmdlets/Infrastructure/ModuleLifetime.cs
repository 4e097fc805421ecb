using System.Management.Automation;
using System.Runtime.InteropServices;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// What importing the module does: reap the current user's orphaned sandboxes (their owner died
/// without removing them; Sandbox.psm1 then warns with their names, which a binary module cannot do
/// on import) at the first import of the process for that store, and see that this process removes the sandboxes it made without -Keep when it exits
/// normally, and also when its terminal closes (SIGHUP) or it is asked to stop (SIGTERM): those
/// would otherwise leave sandboxes, and a booted machine running, until the next import, as would
/// pwsh dying of an unhandled exception (which is how it ends when its terminal goes away).
/// Neither may ever break an import or an exit, so failures are swallowed.
/// </summary>
public sealed class ModuleLifetime : IModuleAssemblyInitializer
{
    private static int _hooksRegistered;
    private static readonly object RemovalLock = new();
    private static IReadOnlyList<string> _reaped = Array.Empty<string>();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> ReapedStores = new(StringComparer.Ordinal);

    // Kept alive for the process's life: a collected registration unregisters its handler.
    private static readonly List<PosixSignalRegistration> SignalRegistrations = new();

    public void OnImport()
    {
        try
        {
            // Once per store per process: each runspace imports the module (ForEach-Object -Parallel
            // imports it in every one), and orphans are sandboxes of processes that died, which the
            // first import of this process has reaped already. Remove-Sandbox -Stale reaps at will.
            var engine = SandboxEngine.Open();
            if (ReapedStores.TryAdd(engine.Layout.Root, 0))
            {
                try { Interlocked.Exchange(ref _reaped, engine.ReapOrphans()); }
                catch (Exception)
                {
                    ReapedStores.TryRemove(engine.Layout.Root, out _); // the next import tries again
                    throw;
                }
            }
        }
        catch (Exception) { /* a store we cannot read yet is no reason to fail Import-Module */ }

        if (Interlocked.Exchange(ref _hooksRegistered, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveOwnSandboxes();
        // Closing the terminal also makes pwsh's console reads fail, and pwsh dies of that
        // unhandled exception (SIGABRT, no ProcessExit) while the SIGHUP handler may still be
        // removing: this handler runs before the abort and waits for that removal to finish.
        AppDomain.CurrentDomain.UnhandledException += (_, _) => RemoveOwnSandboxes();
        foreach (var signal in new[] { PosixSignal.SIGHUP, PosixSignal.SIGTERM })
        {
            // The handler does not cancel the signal: after it, the process ends as it would have.
            try { SignalRegistrations.Add(PosixSignalRegistration.Create(signal, _ => RemoveOwnSandboxes())); }
            catch (Exception) { /* no signal support here: a normal exit and -Stale still clean up */ }
        }
    }

    /// <summary>The names of the sandboxes the last import reaped, once (Sandbox.psm1 reports them).</summary>
    public static string[] TakeReaped() => Interlocked.Exchange(ref _reaped, Array.Empty<string>()).ToArray();

    private static void RemoveOwnSandboxes()
    {
        // A signal can arrive while ProcessExit runs (or twice): one removal at a time.
        lock (RemovalLock)
        {
            try { SandboxEngine.Open().RemoveSandboxesOfThisProcess(); }
            catch (Exception) { /* best effort at exit; -Stale reaps what is left */ }
        }
    }
}
