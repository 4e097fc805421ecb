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

    /// <summary>stdin for a command: byte arrays as they are, anything else as lines of text.</summary>
    public static byte[]? StandardInput(object[]? input)
    {
        if (input is null || input.Length == 0) return null;
        var values = input.Select(v => v is System.Management.Automation.PSObject p ? p.BaseObject : v).ToArray();
        if (values.All(v => v is byte)) return values.Cast<byte>().ToArray();
        if (values.Length == 1 && values[0] is byte[] bytes) return bytes;
        var text = new StringBuilder();
        foreach (var value in values) text.Append(value).Append('\n');
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}
