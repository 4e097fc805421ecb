namespace Sandbox.Providers.CommandLines;

/// <summary>
/// One labelled run of a backend's command line ("namespaces", "binds", "command"...). Command lines
/// are built as a sequence of these so that a reader (and a test) sees which flag belongs to which
/// concern, and so that a block can be asserted whole rather than by <c>Contains</c>.
/// </summary>
internal sealed record ArgvBlock(string Label, IReadOnlyList<string> Args)
{
    public static ArgvBlock Of(string label, params string[] args) => new(label, args);

    public static ArgvBlock Of(string label, IEnumerable<string> args) => new(label, args.ToArray());
}

/// <summary>A backend command line as labelled blocks, in order; <see cref="Argv"/> is what is executed.</summary>
internal sealed class LabelledArgv
{
    public LabelledArgv(IEnumerable<ArgvBlock> blocks) => Blocks = blocks.ToArray();

    public IReadOnlyList<ArgvBlock> Blocks { get; }

    public List<string> Argv => Blocks.SelectMany(block => block.Args).ToList();

    /// <summary>The block with this label (each label appears once).</summary>
    public IReadOnlyList<string> this[string label] => Blocks.Single(block => block.Label == label).Args;

    public IEnumerable<string> Labels => Blocks.Select(block => block.Label);
}
