namespace Sandbox.Images.Layers;

/// <summary>
/// One immutable layer of the store (serialized as <c>layers/&lt;id&gt;/layer.json</c> beside its
/// <c>tree/</c>): a folder in overlayfs's format (whiteouts as 0/0 character devices, replaced folders
/// marked <c>user.overlay.opaque=y</c>) whose id is the content id of the tree chained with its parent's.
/// </summary>
internal sealed record LayerInfo
{
    public required string Id { get; init; }

    /// <summary>The layer below it; null for a base layer.</summary>
    public string? ParentId { get; init; }

    /// <summary>Bytes the tree occupies on disk.</summary>
    public long Size { get; init; }

    public DateTimeOffset Created { get; init; }

    /// <summary>0 for root, else the uid whose user namespace owns its files (see ImageOwners).</summary>
    public uint BuilderUid { get; init; }
}
