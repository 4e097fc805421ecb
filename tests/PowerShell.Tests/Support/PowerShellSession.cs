using System.Management.Automation;
using System.Management.Automation.Runspaces;
using PS = System.Management.Automation.PowerShell;

namespace Sandbox.PowerShell.Tests.Support;

/// <summary>What one script run produced: its output, its non-terminating errors, and the terminating one if any.</summary>
public sealed record ScriptRun(IReadOnlyList<PSObject> Output, IReadOnlyList<ErrorRecord> Errors, ErrorRecord? Thrown, bool Stopped = false)
{
    /// <summary>The error ids, terminating one last, as `$_.FullyQualifiedErrorId` shows them.</summary>
    public IEnumerable<string> ErrorIds => Errors.Append(Thrown).OfType<ErrorRecord>().Select(e => e.FullyQualifiedErrorId);

    public string Describe() => string.Join("\n", Errors.Append(Thrown).OfType<ErrorRecord>()
        .Select(e => $"{e.FullyQualifiedErrorId}: {e.Exception.Message}"));
}

/// <summary>
/// One PowerShell 7.6 runspace with the built module imported from out/Sandbox, the way a user
/// runs `Import-Module ./out/Sandbox/Sandbox.psd1` in pwsh. Scripts run one at a time.
/// </summary>
public sealed class PowerShellSession : IDisposable
{
    public static readonly string ModuleManifest = Path.Combine(RepositoryRoot(), "out", "Sandbox", "Sandbox.psd1");

    private readonly Runspace _runspace;
    private PS? _running;

    public PowerShellSession()
    {
        if (!File.Exists(ModuleManifest))
            throw new InvalidOperationException($"{ModuleManifest} is missing: build first (bash tools/setup.sh).");
        _runspace = RunspaceFactory.CreateRunspace(Host, InitialSessionState.CreateDefault2());
        _runspace.Open();
        var import = Run("Import-Module $args[0] -PassThru -ErrorAction Stop", ModuleManifest);
        if (import.Thrown is not null || import.Errors.Count > 0)
            throw new InvalidOperationException($"Import-Module failed:\n{import.Describe()}");
        Module = import.Output.Single();
    }

    public RecordingHost Host { get; } = new();

    /// <summary>The PSModuleInfo Import-Module returned.</summary>
    public PSObject Module { get; }

    /// <summary>Runs <paramref name="script"/> with <paramref name="arguments"/> as $args.</summary>
    public ScriptRun Run(string script, params object?[] arguments)
    {
        using var shell = PS.Create();
        shell.Runspace = _runspace;
        shell.AddScript(script);
        foreach (var argument in arguments) shell.AddArgument(argument);
        Interlocked.Exchange(ref _running, shell);
        try
        {
            var output = shell.Invoke();
            return new ScriptRun(output.ToList(), shell.Streams.Error.ToList(), null,
                shell.InvocationStateInfo.State == PSInvocationState.Stopped);
        }
        catch (RuntimeException e)
        {
            return new ScriptRun(Array.Empty<PSObject>(), shell.Streams.Error.ToList(), e.ErrorRecord,
                shell.InvocationStateInfo.State == PSInvocationState.Stopped);
        }
        finally
        {
            Interlocked.Exchange(ref _running, null);
        }
    }

    /// <summary>Runs a script that must succeed: any error fails the test with its id and message.</summary>
    public IReadOnlyList<PSObject> Ok(string script, params object?[] arguments)
    {
        var run = Run(script, arguments);
        if (run.Thrown is not null || run.Errors.Count > 0)
            throw new Xunit.Sdk.XunitException($"The script failed:\n{script}\n{run.Describe()}");
        return run.Output;
    }

    /// <summary>What Ctrl-C does in pwsh: stops the running pipeline, and returns once it has stopped.</summary>
    public void PressCtrlC()
    {
        var running = Volatile.Read(ref _running) ?? throw new InvalidOperationException("No script is running to stop.");
        running.EndStop(running.BeginStop(null, null));
    }

    /// <summary>
    /// Runs <paramref name="script"/> inside try/catch and returns what it threw. A cmdlet's
    /// ThrowTerminatingError ends only its statement, so this is how a script sees it (as Pester's
    /// Should -Throw does).
    /// </summary>
    public ErrorRecord? Catch(string script, params object?[] arguments)
    {
        var run = Run($"try {{ {script} }} catch {{ $_ }}", arguments);
        if (run.Thrown is not null) return run.Thrown;
        return run.Output.Select(o => o.BaseObject).OfType<ErrorRecord>().SingleOrDefault();
    }

    public void Dispose() => _runspace.Dispose();

    internal static string RepositoryRoot()
    {
        for (var folder = AppContext.BaseDirectory; folder is not null; folder = Path.GetDirectoryName(folder))
            if (File.Exists(Path.Combine(folder, "Sandbox.sln"))) return folder;
        throw new InvalidOperationException($"No Sandbox.sln above {AppContext.BaseDirectory}.");
    }
}

/// <summary>Reads result properties the way a script would ($result.ExitCode), without referencing the engine.</summary>
public static class PSObjectExtensions
{
    public static T? Get<T>(this PSObject item, string property)
    {
        var found = item.Properties[property] ?? throw new Xunit.Sdk.XunitException($"{item.TypeNames[0]} has no property '{property}'.");
        return found.Value is null ? default : (T)LanguagePrimitives.ConvertTo(found.Value, typeof(T));
    }
}
