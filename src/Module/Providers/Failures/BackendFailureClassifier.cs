using Sandbox.Processes;

namespace Sandbox.Providers.Failures;

/// <summary>How a backend's report was classified: what failed and the detail to tell the user.</summary>
internal sealed record StartFailureReport(StartFailure Failure, string Detail);

/// <summary>
/// The one place that tells a command that never started from one that ran and failed, for every
/// provider: the provider supplies its table (ProviderFailureTables), this applies it. A command
/// that ran keeps its exit code and output whatever it printed.
/// </summary>
internal static class BackendFailureClassifier
{
    /// <summary>
    /// A backend's own report is a short line (a path is at most 4 KiB). Longer lines are the
    /// command's, and never handed to a pattern: a hostile command could otherwise make one
    /// megabyte-long line cost the engine quadratic time in the regex engine.
    /// </summary>
    public const int MaxReportLineLength = 16 * 1024;

    /// <summary>
    /// The matching rule's report, or null when the command ran (or was stopped by us). A pattern's
    /// <c>command</c> group must name <paramref name="commandName"/>, the program we asked for: a
    /// backend's exec failure names it, a command printing a lookalike for another name is itself.
    /// </summary>
    public static StartFailureReport? Classify(BackendFailureTable table, ProcessOutcome outcome, string? commandName = null)
    {
        // A timeout or cancellation killed the backend: its exit says nothing about setup.
        if (outcome.TimedOut || outcome.Cancelled || outcome.ExitCode is not { } exitCode || outcome.StdOut.Length > 0) return null;
        var lines = outcome.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var rule in table.Rules)
        {
            if (!rule.ExitCodes.Contains(exitCode) || lines.Length == 0 || lines.Length > rule.MaxLines) continue;
            var candidates = rule.Lines switch
            {
                StderrLines.OnlyLine => lines.Length == 1 ? lines : Array.Empty<string>(),
                StderrLines.LastLine => new[] { lines[^1] },
                _ => lines,
            };
            foreach (var line in candidates.Where(line => line.Length <= MaxReportLineLength))
            {
                var match = rule.Pattern.Match(line);
                if (!match.Success) continue;
                if (match.Groups["command"] is { Success: true } named && named.Value != commandName) continue;
                var detail = rule.Failure == StartFailure.SetupFailed ? outcome.StdErr
                    : match.Groups["reason"] is { Success: true } reason ? reason.Value
                    : rule.Reason ?? line;
                return new StartFailureReport(rule.Failure, detail);
            }
        }
        return null;
    }

    /// <summary>Throws CommandNotFound or SandboxSetupFailed when the table says the command never ran.</summary>
    public static void ThrowIfNotStarted(BackendFailureTable table, ProcessOutcome outcome, string sandboxName, string commandName)
    {
        switch (Classify(table, outcome, commandName))
        {
            case { Failure: StartFailure.CommandNotFound } report:
                throw SandboxErrors.CommandNotFound(commandName, report.Detail);
            case { Failure: StartFailure.SetupFailed } report:
                throw SandboxErrors.SetupFailed(table.Provider, sandboxName, report.Detail);
        }
    }
}
