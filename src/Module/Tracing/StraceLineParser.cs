using System.Globalization;
using System.Text;

namespace Sandbox.Tracing;

/// <summary>
/// Takes strace's lines apart, strictly. Every string in them came from the traced command (paths,
/// argv): strace prints each as hexadecimal escapes (-xx), so no quote, newline or bracket the
/// command chose can reach the line's structure. A line that does not have exactly the expected
/// shape is refused (null) and counted by the caller, never guessed at.
/// </summary>
internal static class StraceLineParser
{
    private const string UnfinishedMark = " <unfinished ...>";
    private const string ResumedOpen = "<... ";
    private const string ResumedClose = " resumed>";

    public static StraceLine? Parse(string line)
    {
        var space = line.IndexOf(' ');
        if (space <= 0 || !TryPid(line[..space], out var pid)) return null;
        var rest = line[(space + 1)..].TrimStart(' ');
        if (rest.StartsWith("+++ ", StringComparison.Ordinal)) return ParseExit(pid, rest);
        if (rest.StartsWith("--- ", StringComparison.Ordinal))
            return rest.EndsWith(" ---", StringComparison.Ordinal) ? new StraceSignal(pid) : null;
        if (rest.StartsWith(ResumedOpen, StringComparison.Ordinal))
        {
            var close = rest.IndexOf(ResumedClose, StringComparison.Ordinal);
            if (close < 0) return null;
            var name = rest[ResumedOpen.Length..close];
            return IsName(name) ? new StraceResumed(pid, name, rest[(close + ResumedClose.Length)..]) : null;
        }
        var open = rest.IndexOf('(');
        if (open <= 0 || !IsName(rest[..open])) return null;
        var callName = rest[..open];
        if (rest.EndsWith(UnfinishedMark, StringComparison.Ordinal))
            return new StraceUnfinished(pid, callName, rest[(open + 1)..^UnfinishedMark.Length]);
        return ParseCall(pid, callName, rest[(open + 1)..]);
    }

    /// <summary>The two halves of an interrupted call made whole again.</summary>
    public static StraceCall? Join(StraceUnfinished head, StraceResumed tail) =>
        head.Pid == tail.Pid && head.Name == tail.Name ? ParseCall(head.Pid, head.Name, head.ArgumentsHead + tail.Tail) : null;

    /// <summary>"args) = result ..." after the call's opening parenthesis.</summary>
    public static StraceCall? ParseCall(int pid, string name, string afterOpen)
    {
        var end = ClosingParenthesis(afterOpen);
        if (end < 0) return null;
        var arguments = SplitTopLevel(afterOpen[..end]);
        if (arguments is null) return null;
        var result = afterOpen[(end + 1)..].TrimStart(' ');
        if (!result.StartsWith("= ", StringComparison.Ordinal)) return null;
        var words = result[2..];
        var valueEnd = words.IndexOf(' ');
        var valueText = valueEnd < 0 ? words : words[..valueEnd];
        var tail = valueEnd < 0 ? "" : words[(valueEnd + 1)..];
        long? value = null;
        if (valueText != "?")
        {
            if (!TryNumber(valueText, out var number)) return null;
            value = number;
        }
        string? errno = null;
        int? hostPid = null;
        if (value == -1 && tail.Length > 0)
        {
            var errnoEnd = tail.IndexOf(' ');
            var candidate = errnoEnd < 0 ? tail : tail[..errnoEnd];
            if (IsErrnoName(candidate)) errno = candidate;
        }
        else if (tail.StartsWith("/* ", StringComparison.Ordinal) && tail.EndsWith(" in strace's PID NS */", StringComparison.Ordinal))
        {
            if (!TryPid(tail[3..^" in strace's PID NS */".Length], out var translated)) return null;
            hostPid = translated;
        }
        return new StraceCall(pid, name, arguments, value, errno, hostPid);
    }

    private static StraceExit? ParseExit(int pid, string rest)
    {
        if (!rest.EndsWith(" +++", StringComparison.Ordinal)) return null;
        var body = rest[4..^4];
        if (body.StartsWith("exited with ", StringComparison.Ordinal))
            return int.TryParse(body["exited with ".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var code)
                ? new StraceExit(pid, code, null) : null;
        if (body.StartsWith("killed by ", StringComparison.Ordinal))
        {
            var signal = body["killed by ".Length..];
            if (signal.EndsWith(" (core dumped)", StringComparison.Ordinal)) signal = signal[..^" (core dumped)".Length];
            return signal.StartsWith("SIG", StringComparison.Ordinal) && signal.Length < 16 && signal.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '+' || c == '-')
                ? new StraceExit(pid, null, signal) : null;
        }
        return null;
    }

    /// <summary>
    /// The index of the parenthesis closing the call's arguments: the last one at depth 0 outside
    /// strings and comments. -1 when brackets or quotes do not balance.
    /// </summary>
    private static int ClosingParenthesis(string text)
    {
        var depth = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '"')
            {
                i = StringEnd(text, i);
                if (i < 0) return -1;
            }
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                var close = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (close < 0) return -1;
                i = close + 1;
            }
            else if (c is '(' or '[' or '{') depth++;
            else if (c is ']' or '}') { if (--depth < 0) return -1; }
            else if (c == ')')
            {
                if (depth == 0) return i;
                depth--;
            }
        }
        return -1;
    }

    /// <summary>The index of the quote closing the string that opens at <paramref name="start"/>, or -1.</summary>
    private static int StringEnd(string text, int start)
    {
        for (var i = start + 1; i < text.Length; i++)
        {
            if (text[i] == '\\') { i++; continue; }
            if (text[i] == '"') return i;
        }
        return -1;
    }

    /// <summary>Splits at commas outside strings, brackets and comments; null when unbalanced.</summary>
    public static List<string>? SplitTopLevel(string text)
    {
        var parts = new List<string>();
        if (text.Trim().Length == 0) return parts;
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '"')
            {
                i = StringEnd(text, i);
                if (i < 0) return null;
            }
            else if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                var close = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                if (close < 0) return null;
                i = close + 1;
            }
            else if (c is '(' or '[' or '{') depth++;
            else if (c is ')' or ']' or '}') { if (--depth < 0) return null; }
            else if (c == ',' && depth == 0)
            {
                parts.Add(text[start..i].Trim());
                start = i + 1;
            }
        }
        if (depth != 0) return null;
        parts.Add(text[start..].Trim());
        return parts;
    }

    /// <summary>
    /// A quoted argument's bytes as text (UTF-8, invalid bytes replaced), or null when the token is
    /// not one string. strace marks a string it cut at -s with "..." after the quote: that is kept
    /// as a trailing "..." so a cut path never passes for a whole one.
    /// </summary>
    public static string? DecodeString(string token)
    {
        if (DecodeBytes(token, out var cut) is not { } bytes) return null;
        var text = Encoding.UTF8.GetString(bytes);
        return cut ? text + "..." : text;
    }

    /// <summary>A quoted argument's bytes, exactly; null when the token is not one string.</summary>
    public static byte[]? DecodeBytes(string token, out bool cut)
    {
        cut = token.EndsWith("\"...", StringComparison.Ordinal);
        var body = cut ? token[..^3] : token;
        if (body.Length < 2 || body[0] != '"' || body[^1] != '"') return null;
        var bytes = new List<byte>(body.Length / 4 + 1);
        for (var i = 1; i < body.Length - 1; i++)
        {
            var c = body[i];
            if (c != '\\')
            {
                if (c == '"' || c > 0x7e || c < 0x20) return null; // -xx never prints these bare
                bytes.Add((byte)c);
                continue;
            }
            if (++i >= body.Length - 1) return null;
            switch (body[i])
            {
                case 'x':
                    if (i + 2 >= body.Length - 1 || !byte.TryParse(body.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)) return null;
                    bytes.Add(b);
                    i += 2;
                    break;
                case '\\': bytes.Add((byte)'\\'); break;
                case '"': bytes.Add((byte)'"'); break;
                case 'n': bytes.Add((byte)'\n'); break;
                case 't': bytes.Add((byte)'\t'); break;
                default: return null;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>An array argument (["a", "b"] or ["a", ...]) as its decoded strings; null when it is not one.</summary>
    public static List<string>? DecodeStringArray(string token)
    {
        var body = token;
        var comment = body.IndexOf(" /*", StringComparison.Ordinal);
        if (comment >= 0 && !body.StartsWith('[')) return null;
        if (body.Length < 2 || body[0] != '[') return null;
        var close = body.LastIndexOf(']');
        if (close < 0) return null;
        var items = SplitTopLevel(body[1..close]);
        if (items is null) return null;
        var result = new List<string>(items.Count);
        foreach (var item in items)
        {
            if (item == "...") { result.Add("..."); continue; }
            if (DecodeString(item) is not { } text) return null;
            result.Add(text);
        }
        return result;
    }

    /// <summary>"name=0x..." inside a structure or flag argument, as a number (-X raw prints flags in hexadecimal).</summary>
    public static long? Field(string token, string name)
    {
        var at = 0;
        while ((at = token.IndexOf(name + "=", at, StringComparison.Ordinal)) >= 0)
        {
            if (at == 0 || token[at - 1] is '{' or ' ' or ',')
            {
                var start = at + name.Length + 1;
                var end = start;
                while (end < token.Length && (char.IsAsciiHexDigit(token[end]) || token[end] is 'x' or '-')) end++;
                return TryNumber(token[start..end], out var value) ? value : null;
            }
            at += name.Length;
        }
        return null;
    }

    /// <summary>A string field inside a structure ("sun_path=\"...\""), decoded.</summary>
    public static string? StringField(string token, string name) =>
        FieldToken(token, name) is { } quoted ? (quoted.StartsWith('@') ? "@" + DecodeString(quoted[1..]) : DecodeString(quoted)) : null;

    /// <summary>A string field's bytes, exactly (an address: sin_addr="\x7f\x00\x00\x01").</summary>
    public static byte[]? BytesField(string token, string name) =>
        FieldToken(token, name) is { } quoted && !quoted.StartsWith('@') ? DecodeBytes(quoted, out _) : null;

    private static string? FieldToken(string token, string name)
    {
        var key = name + "=";
        var at = token.IndexOf(key, StringComparison.Ordinal);
        if (at < 0 || at + key.Length >= token.Length) return null;
        var start = at + key.Length;
        var abstractName = token[start] == '@';
        if (abstractName) start++;
        if (start >= token.Length || token[start] != '"') return null;
        var end = StringEnd(token, start);
        if (end < 0) return null;
        return (abstractName ? "@" : "") + token[start..(end + 1)];
    }

    public static bool TryNumber(string text, out long value)
    {
        value = 0;
        if (text.StartsWith("0x", StringComparison.Ordinal))
            return text.Length > 2 && text.Length <= 18 && long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        if (text.StartsWith('0') && text.Length > 1 && text.All(char.IsAsciiDigit))
        {
            // an octal mode (0644)
            try { value = Convert.ToInt64(text, 8); return true; }
            catch (FormatException) { return false; }
            catch (OverflowException) { return false; }
        }
        return text.Length <= 20 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryPid(string text, out int pid) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out pid) && pid > 0;

    private static bool IsName(string name) =>
        name.Length is > 0 and < 32 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    private static bool IsErrnoName(string name) =>
        name.Length is > 1 and < 20 && name[0] == 'E' && name.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c));
}
