using System.Text.RegularExpressions;

namespace Sandbox.Providers.Failures;

/// <summary>What a backend's report of a command that never ran means.</summary>
internal enum StartFailure
{
    /// <summary>The sandbox ran but the command could not be executed in it (missing, not executable).</summary>
    CommandNotFound,

    /// <summary>The sandbox itself could not be set up (a mount, a namespace, the backend's own check).</summary>
    SetupFailed,
}

/// <summary>Which lines of stderr a rule's pattern is tried on.</summary>
internal enum StderrLines
{
    /// <summary>stderr is exactly one non-empty line, and it matches.</summary>
    OnlyLine,

    /// <summary>The last non-empty line matches.</summary>
    LastLine,

    /// <summary>Any non-empty line matches (the first that does is used).</summary>
    AnyLine,
}

/// <summary>
/// One way a backend says a command never ran, as data: the exit codes it uses, which stderr lines
/// carry the message and their pattern. Every rule also requires an empty stdout: a command that
/// never ran printed nothing, so a command that ran and printed a lookalike line among its output
/// is never mistaken for a failure of the sandbox. A named group <c>reason</c> in the pattern gives
/// the CommandNotFound detail (else <see cref="Reason"/>).
/// </summary>
internal sealed record BackendFailureRule(StartFailure Failure, IReadOnlyList<int> ExitCodes, StderrLines Lines, Regex Pattern)
{
    /// <summary>At most this many non-empty stderr lines (a backend's own report is short).</summary>
    public int MaxLines { get; init; } = int.MaxValue;

    /// <summary>The CommandNotFound detail when the pattern has no <c>reason</c> group.</summary>
    public string? Reason { get; init; }

    public static BackendFailureRule When(StartFailure failure, int exitCode, StderrLines lines, string pattern) =>
        new(failure, new[] { exitCode }, lines, new Regex(pattern, RegexOptions.CultureInvariant));

    public static BackendFailureRule When(StartFailure failure, int[] exitCodes, StderrLines lines, string pattern) =>
        new(failure, exitCodes, lines, new Regex(pattern, RegexOptions.CultureInvariant));
}

/// <summary>A provider's rules, tried in order; the first that matches decides.</summary>
internal sealed record BackendFailureTable(string Provider, IReadOnlyList<BackendFailureRule> Rules);
