using System.Management.Automation;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// What every Sandbox cmdlet shares: an engine over the user's store whose log goes to
/// Write-Verbose/Write-Progress, Ctrl-C wired to cancellation, and engine errors turned into
/// ErrorRecords with their error id, category, target and the fix in the message.
/// </summary>
public abstract class SandboxCmdlet : PSCmdlet
{
    private PipelineBridge? _bridge;
    private SandboxEngine? _engine;

    internal PipelineBridge Bridge => _bridge ??= new PipelineBridge(this);

    protected SandboxEngine Engine => _engine ??= OrThrow(() => SandboxEngine.Open(Bridge)); // a refused store is a proper error record

    protected override void StopProcessing() => _bridge?.Stop();

    protected override void EndProcessing() => _bridge?.Dispose();

    /// <summary>
    /// The items matching each of <paramref name="patterns"/> (wildcards, case-insensitive), as
    /// Get-ChildItem does: a plain name that matches nothing is a not-found error, a pattern that
    /// matches nothing is not.
    /// </summary>
    protected List<T> Matching<T>(IReadOnlyList<T> items, IEnumerable<string> patterns, Func<T, string, bool> isMatch,
        Func<string, SandboxException> notFound)
    {
        var found = new List<T>();
        foreach (var pattern in patterns)
        {
            var matches = items.Where(item => isMatch(item, pattern)).ToList();
            if (matches.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
                WriteError(ErrorRecords.From(notFound(pattern)));
            found.AddRange(matches);
        }
        return found;
    }

    /// <summary>Whether <paramref name="value"/> matches the wildcard <paramref name="pattern"/>, ignoring case.</summary>
    protected static bool Like(string value, string pattern) =>
        new WildcardPattern(pattern, WildcardOptions.IgnoreCase).IsMatch(value);

    /// <summary>Runs an engine call and reports its SandboxException as a non-terminating error.</summary>
    protected void Try(Action action)
    {
        try { action(); }
        catch (SandboxException e) { WriteError(ErrorRecords.From(e)); }
    }

    /// <summary>Runs an engine call and stops the pipeline on its SandboxException.</summary>
    protected T OrThrow<T>(Func<T> action)
    {
        try { return action(); }
        catch (SandboxException e) { ThrowTerminatingError(ErrorRecords.From(e)); throw; }
    }
}
