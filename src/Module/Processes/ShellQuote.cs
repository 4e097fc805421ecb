using System.Text;

namespace Sandbox.Processes;

/// <summary>
/// Shell quoting for display only: verbose logs show every backend command line so a user can paste
/// it into a shell. Commands themselves are always run from argv arrays.
/// </summary>
internal static class ShellQuote
{
    public static string Join(IEnumerable<string> argv) => string.Join(' ', argv.Select(Quote));

    public static string Quote(string word)
    {
        if (word.Length > 0 && word.All(IsSafe)) return word;
        var quoted = new StringBuilder("'");
        foreach (var c in word)
        {
            if (c == '\'') quoted.Append("'\\''");
            else quoted.Append(c);
        }
        return quoted.Append('\'').ToString();
    }

    private static bool IsSafe(char c) =>
        char.IsAsciiLetterOrDigit(c) || "@%+=:,./_-".Contains(c);
}
