using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace Sandbox.Commands.Infrastructure;

/// <summary>Tab completion for names that live in the store.</summary>
public abstract class StoreNameCompleter : IArgumentCompleter
{
    protected abstract IEnumerable<string> Names(SandboxEngine engine);

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName,
        string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        IEnumerable<string> names;
        try { names = Names(SandboxEngine.Open()).ToList(); }
        catch (Exception) { yield break; } // completion must never throw at the user
        var pattern = new WildcardPattern(wordToComplete.Trim('\'', '"') + "*", WildcardOptions.IgnoreCase);
        foreach (var name in names.Where(pattern.IsMatch))
            yield return new CompletionResult(name, name, CompletionResultType.ParameterValue, name);
    }
}

public sealed class ImageNameCompleter : StoreNameCompleter
{
    protected override IEnumerable<string> Names(SandboxEngine engine) => engine.Images.List().Select(i => i.Name);
}

public sealed class SandboxNameCompleter : StoreNameCompleter
{
    protected override IEnumerable<string> Names(SandboxEngine engine) => engine.GetSandboxes().Select(s => s.Name);
}
