using System.Text;

namespace Sandbox;

/// <summary>The cmdlets' refinements of engine errors (same ids, more to say to a pwsh user).</summary>
public static partial class SandboxErrors
{
    /// <summary>Most of a command's stderr that a -Check error quotes: its end says why it failed.</summary>
    public const int StdErrTailLines = 20;
    public const int StdErrTailChars = 2000;

    /// <summary>
    /// CommandFailed (the same error) quoting the end of the command's stderr, so that a -Check
    /// failure caught by try/catch or reported by Pester says why without digging for the result.
    /// </summary>
    public static SandboxException CommandFailed(string command, int? exitCode, string? signal, string? stdErr)
    {
        var plain = CommandFailed(command, exitCode, signal);
        var tail = StdErrTail(stdErr);
        if (tail.Length == 0) return plain;
        var problem = plain.Fix is null ? plain.Message : plain.Message[..^(plain.Fix.Length + 1)];
        return new SandboxException(plain.ErrorId, plain.Kind, $"{problem} The end of its stderr:\n{tail}\n",
            plain.Fix, plain.Target);
    }

    /// <summary>
    /// CommandNotFound (the same error) for a command given as one string with spaces, the shell habit:
    /// it names a program called "uname -a", which does not exist.
    /// </summary>
    public static SandboxException CommandNotFoundAsOneString(SandboxException notFound, string command)
    {
        var problem = notFound.Fix is null ? notFound.Message : notFound.Message[..^(notFound.Fix.Length + 1)];
        return new SandboxException(notFound.ErrorId, notFound.Kind, problem,
            $"'{command}' is one string, so it names one program. Pass the program and its arguments as words " +
            "(Invoke-SandboxCommand $sb uname -a, or -Command 'uname','-a'), or run it by a shell: -Command sh,-c,'...'.",
            notFound.Target, notFound);
    }

    /// <summary>
    /// The last lines of hostile output, bounded in lines and characters, with control characters
    /// (terminal escapes that could rewrite the user's screen) shown as '?'.
    /// </summary>
    public static string StdErrTail(string? stdErr)
    {
        if (string.IsNullOrWhiteSpace(stdErr)) return "";
        var text = stdErr.TrimEnd();
        if (text.Length > StdErrTailChars) text = "..." + text[^StdErrTailChars..];
        var lines = text.Split('\n');
        if (lines.Length > StdErrTailLines) lines = new[] { "..." }.Concat(lines[^StdErrTailLines..]).ToArray();
        var tail = new StringBuilder();
        foreach (var c in string.Join('\n', lines))
            tail.Append(c == '\n' || c == '\t' || !char.IsControl(c) ? c : '?');
        return tail.ToString();
    }
}
