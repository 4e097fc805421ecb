// Compiles docs/help/*.md, written in the Microsoft.PowerShell.PlatyPS 1.x markdown schema, into the
// MAML file Get-Help reads, without pwsh or PlatyPS, so that `dotnet build` alone makes it. Built by
// MSBuild's RoslynCodeTaskFactory from build/MamlHelp.targets.
//
// Syntax and parameter attributes (sets, mandatory, position, pipeline input, wildcards, type) come
// from each parameter's ```yaml block, which PlatyPS writes from the cmdlet's real metadata;
// tests/PowerShell.Tests/HelpMatchesCmdletsTests.cs fails when the pages and the cmdlets disagree.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Xml.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class CompileMamlHelp : Task
{
    [Required] public ITaskItem[] Pages { get; set; }
    [Required] public string OutputFile { get; set; }

    private static readonly XNamespace Msh = "http://msh", Maml = "http://schemas.microsoft.com/maml/2004/10",
        Command = "http://schemas.microsoft.com/maml/dev/command/2004/10", Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    private const string AllSets = "(All)";

    private sealed class ParameterSet
    {
        public string Name = "";
        public string Position = "Named";
        public bool Required;
        public bool ByValue;
        public bool ByPropertyName;
        public bool Remaining;
    }

    private sealed class ParameterPage
    {
        public string Name = "";
        public string Description = "";
        public string Type = "System.Object";
        public bool Wildcards;
        public string DefaultValue = "";
        public List<string> Aliases = new List<string>();
        public List<ParameterSet> Sets = new List<ParameterSet>();
        public bool IsSwitch => Type == "System.Management.Automation.SwitchParameter";
    }

    public override bool Execute()
    {
        var helpItems = new XElement(Msh + "helpItems", new XAttribute("schema", "maml"),
            new XAttribute(XNamespace.Xmlns + "maml", Maml), new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev));
        foreach (var page in Pages.OrderBy(p => p.ItemSpec, StringComparer.Ordinal))
        {
            try { helpItems.Add(CompilePage(page.ItemSpec)); }
            catch (Exception e)
            {
                Log.LogError(null, "MAML001", null, page.ItemSpec, 0, 0, 0, 0, "Cannot compile this help page: {0}", e.Message);
            }
        }
        if (Log.HasLoggedErrors) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(OutputFile));
        new XDocument(new XDeclaration("1.0", "utf-8", null), helpItems).Save(OutputFile);
        return true;
    }

    private static XElement CompilePage(string path)
    {
        var text = File.ReadAllText(path).Replace("\r\n", "\n");
        var name = Path.GetFileNameWithoutExtension(path);
        var sections = Sections(text);
        var parameters = Entries(Section(sections, "PARAMETERS"))
            .Where(e => e.Key.StartsWith("-", StringComparison.Ordinal))
            .Select(e => Parameter(e.Key.Substring(1), e.Value)).ToList();

        return new XElement(Command + "command",
            new XElement(Command + "details",
                new XElement(Command + "name", name),
                new XElement(Maml + "description", Paras(Section(sections, "SYNOPSIS"))),
                new XElement(Command + "verb", name.Split('-')[0]),
                new XElement(Command + "noun", name.Split('-')[1])),
            new XElement(Maml + "description", Paras(Section(sections, "DESCRIPTION"))),
            new XElement(Command + "syntax", SetNames(Section(sections, "SYNTAX"), parameters)
                .Select(set => SyntaxItem(name, set, parameters))),
            new XElement(Command + "parameters", parameters.Select(ParameterElement)),
            new XElement(Command + "inputTypes", Entries(Section(sections, "INPUTS")).Select(e =>
                new XElement(Command + "inputType", TypeElement(e.Key), new XElement(Maml + "description", Paras(e.Value))))),
            new XElement(Command + "returnValues", Entries(Section(sections, "OUTPUTS")).Select(e =>
                new XElement(Command + "returnValue", TypeElement(e.Key), new XElement(Maml + "description", Paras(e.Value))))),
            new XElement(Maml + "alertSet", new XElement(Maml + "alert", Paras(Section(sections, "NOTES")))),
            new XElement(Command + "examples", Entries(Section(sections, "EXAMPLES")).Select(e => Example(e.Key, e.Value))));
    }

    // "## HEADING" sections after the "# Name" title (front matter and title are skipped).
    private static Dictionary<string, string> Sections(string text) =>
        ("\n" + text).Split(new[] { "\n## " }, StringSplitOptions.None).Skip(1)
            .Select(s => s.IndexOf('\n') < 0 ? s + "\n" : s)
            .ToDictionary(s => s.Substring(0, s.IndexOf('\n')).Trim(), s => s.Substring(s.IndexOf('\n') + 1).Trim());

    private static string Section(Dictionary<string, string> sections, string key) =>
        sections.TryGetValue(key, out var body) ? body : "";

    // "### sub" entries within a section, in order.
    private static List<KeyValuePair<string, string>> Entries(string body) =>
        ("\n" + body).Split(new[] { "\n### " }, StringSplitOptions.None).Skip(1)
            .Select(e => e.IndexOf('\n') < 0
                ? new KeyValuePair<string, string>(e.Trim(), "")
                : new KeyValuePair<string, string>(e.Substring(0, e.IndexOf('\n')).Trim(), e.Substring(e.IndexOf('\n') + 1).Trim()))
            .ToList();

    private static XElement[] Paras(string text) =>
        text.Split(new[] { "\n\n" }, StringSplitOptions.RemoveEmptyEntries)
            .Select(p => new XElement(Maml + "para", p.Trim().Replace("\n", " "))).ToArray();

    private static ParameterPage Parameter(string name, string body)
    {
        var page = new ParameterPage { Name = name };
        var fence = body.IndexOf("```yaml", StringComparison.Ordinal);
        if (fence < 0) throw new InvalidDataException($"-{name} has no ```yaml block (the PlatyPS 1.x schema)");
        page.Description = body.Substring(0, fence).Trim();
        var yamlStart = body.IndexOf('\n', fence) + 1;
        var yamlEnd = body.IndexOf("```", yamlStart, StringComparison.Ordinal);
        string listKey = null;
        ParameterSet set = null;
        foreach (var raw in body.Substring(yamlStart, yamlEnd - yamlStart).Split('\n'))
        {
            if (raw.Trim().Length == 0) continue;
            var line = raw.TrimEnd();
            if (!line.StartsWith(" ", StringComparison.Ordinal) && !line.StartsWith("-", StringComparison.Ordinal))
            {
                var (key, value) = KeyValue(line);
                listKey = key;
                switch (key)
                {
                    case "Type": page.Type = value; break;
                    case "SupportsWildcards": page.Wildcards = value == "true"; break;
                    case "DefaultValue": page.DefaultValue = value.Trim('\''); break;
                }
                continue;
            }
            var item = line.TrimStart();
            var startsItem = item.StartsWith("- ", StringComparison.Ordinal);
            if (startsItem) item = item.Substring(2);
            if (listKey == "Aliases") { page.Aliases.Add(item.Trim()); continue; }
            if (listKey != "ParameterSets") continue;
            if (startsItem) page.Sets.Add(set = new ParameterSet());
            var (setKey, setValue) = KeyValue(item);
            switch (setKey)
            {
                case "Name": set.Name = setValue; break;
                case "Position": set.Position = setValue; break;
                case "IsRequired": set.Required = setValue == "true"; break;
                case "ValueFromPipeline": set.ByValue = setValue == "true"; break;
                case "ValueFromPipelineByPropertyName": set.ByPropertyName = setValue == "true"; break;
                case "ValueFromRemainingArguments": set.Remaining = setValue == "true"; break;
            }
        }
        if (page.Sets.Count == 0) throw new InvalidDataException($"-{name} names no ParameterSets");
        return page;
    }

    private static (string Key, string Value) KeyValue(string line)
    {
        var colon = line.IndexOf(':');
        return colon < 0 ? (line.Trim(), "") : (line.Substring(0, colon).Trim(), line.Substring(colon + 1).Trim());
    }

    // The sets in the order of the SYNTAX headings ("### Name (Default)"), else as the parameters name them.
    private static List<string> SetNames(string syntax, List<ParameterPage> parameters)
    {
        var named = Entries(syntax).Select(e => e.Key.Replace("(Default)", "").Trim()).Where(n => n.Length > 0).ToList();
        foreach (var set in parameters.SelectMany(p => p.Sets).Select(s => s.Name))
            if (set != AllSets && !named.Contains(set)) named.Add(set);
        if (named.Count == 0) named.Add(AllSets); // a cmdlet with one set ("__AllParameterSets")
        return named;
    }

    private static XElement SyntaxItem(string command, string setName, List<ParameterPage> parameters)
    {
        var item = new XElement(Command + "syntaxItem", new XElement(Maml + "name", command));
        var inSet = parameters
            .Select(p => (page: p, set: p.Sets.FirstOrDefault(s => s.Name == setName) ?? p.Sets.FirstOrDefault(s => s.Name == AllSets)))
            .Where(p => p.set != null)
            // As PowerShell lists them: positional ones by position, then mandatory, then the rest.
            .OrderBy(p => int.TryParse(p.set.Position, out var position) ? position : int.MaxValue)
            .ThenBy(p => p.set.Required ? 0 : 1);
        foreach (var (page, set) in inSet)
            item.Add(ParameterElement(page, set, withDescription: false));
        return item;
    }

    private static XElement ParameterElement(ParameterPage page) =>
        ParameterElement(page, Summary(page), withDescription: true);

    // For the PARAMETERS list, one line per parameter over all its sets.
    private static ParameterSet Summary(ParameterPage page) => new ParameterSet
    {
        Required = page.Sets.Any(s => s.Required),
        Position = page.Sets.Select(s => s.Position).FirstOrDefault(p => int.TryParse(p, out _)) ?? "Named",
        ByValue = page.Sets.Any(s => s.ByValue),
        ByPropertyName = page.Sets.Any(s => s.ByPropertyName),
        Remaining = page.Sets.Any(s => s.Remaining),
    };

    private static XElement ParameterElement(ParameterPage page, ParameterSet set, bool withDescription)
    {
        var pipeline = set.ByValue && set.ByPropertyName ? "True (ByValue, ByPropertyName)"
            : set.ByValue ? "True (ByValue)" : set.ByPropertyName ? "True (ByPropertyName)" : "False";
        var element = new XElement(Command + "parameter",
            new XAttribute("required", set.Required ? "true" : "false"),
            new XAttribute("variableLength", set.Remaining || page.Type.EndsWith("[]", StringComparison.Ordinal) ? "true" : "false"),
            new XAttribute("globbing", page.Wildcards ? "true" : "false"),
            new XAttribute("pipelineInput", pipeline),
            new XAttribute("position", int.TryParse(set.Position, out _) ? set.Position : "named"),
            new XAttribute("aliases", page.Aliases.Count == 0 ? "none" : string.Join(", ", page.Aliases)),
            new XElement(Maml + "name", page.Name));
        if (withDescription) element.Add(new XElement(Maml + "description", Paras(page.Description)));
        if (!page.IsSwitch)
            element.Add(new XElement(Command + "parameterValue", new XAttribute("required", "true"),
                new XAttribute("variableLength", "false"), ShortType(page.Type)));
        element.Add(TypeElement(page.Type));
        if (withDescription) element.Add(new XElement(Dev + "defaultValue", page.DefaultValue.Length == 0 ? "None" : page.DefaultValue));
        return element;
    }

    private static XElement TypeElement(string type) => new XElement(Dev + "type", new XElement(Maml + "name", type));

    private static string ShortType(string type) => type.Substring(type.LastIndexOf('.') + 1);

    private static XElement Example(string title, string body)
    {
        var fence = body.IndexOf("```", StringComparison.Ordinal);
        var codeStart = fence < 0 ? 0 : body.IndexOf('\n', fence) + 1;
        var codeEnd = fence < 0 ? 0 : body.IndexOf("```", codeStart, StringComparison.Ordinal);
        var code = fence < 0 ? "" : body.Substring(codeStart, codeEnd - codeStart).Trim();
        var remarks = fence < 0 ? body : (body.Substring(0, fence) + "\n\n" + body.Substring(codeEnd + 3)).Trim();
        return new XElement(Command + "example",
            new XElement(Maml + "title", "-------------------------- " + title + " --------------------------"),
            new XElement(Dev + "code", code), new XElement(Dev + "remarks", Paras(remarks)));
    }
}
