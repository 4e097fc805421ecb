using System.Collections;
using System.Text;

namespace Sandbox.Commands.Infrastructure;

/// <summary>Conversions from PowerShell parameter shapes to the engine's.</summary>
internal static class Parameters
{
    public static Dictionary<string, string> Environment(Hashtable? table)
    {
        var variables = new Dictionary<string, string>();
        if (table is null) return variables;
        foreach (DictionaryEntry entry in table)
            variables[entry.Key?.ToString() ?? ""] = entry.Value?.ToString() ?? "";
        return variables;
    }

    public static List<BindMount> Mounts(string[]? bind, string[]? readOnlyBind) =>
        (bind ?? Array.Empty<string>()).Select(spec => BindMount.Parse(spec, readOnly: false))
        .Concat((readOnlyBind ?? Array.Empty<string>()).Select(spec => BindMount.Parse(spec, readOnly: true)))
        .ToList();

    /// <summary>
    /// stdin bytes from -InputObject: one byte[] (-InputObject (,$bytes)) is passed as it is, with no
    /// copy; an unrolled array of bytes is packed in one pass; anything else is sent as lines of text.
    /// </summary>
    public static byte[]? StandardInput(object[]? input)
    {
        if (input is null || input.Length == 0) return null;
        if (input.Length == 1 && Unwrap(input[0]) is byte[] whole) return whole;
        var packed = new byte[input.Length];
        for (var i = 0; i < input.Length; i++)
        {
            if (Unwrap(input[i]) is not byte value) return Text(input);
            packed[i] = value;
        }
        return packed;
    }

    private static object? Unwrap(object? value) => value is System.Management.Automation.PSObject p ? p.BaseObject : value;

    private static byte[] Text(object[] input)
    {
        var text = new StringBuilder();
        foreach (var value in input) text.Append(Unwrap(value)).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
