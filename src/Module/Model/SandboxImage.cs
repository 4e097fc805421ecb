namespace Sandbox;

/// <summary>
/// A root filesystem in the store that sandboxes are made from (serialized as image.json).
/// Images are never written to by sandboxes.
/// </summary>
public sealed class SandboxImage
{
    public required string Name { get; init; }

    /// <summary>How the image was made: "import" or the builder's name (mmdebstrap, debootstrap).</summary>
    public required string Source { get; init; }

    public required DateTimeOffset Created { get; init; }

    /// <summary>The parameters it was built or imported with; the same ones return the cached image.</summary>
    public Dictionary<string, string> Parameters { get; init; } = new();

    /// <summary>
    /// Who made it: 0 for root (also under sudo), else the user id whose user namespace owns its files
    /// (rootless, the image's root is that user and its other owners are subordinate ids). Null for
    /// images of older versions. Sandboxes need the same kind of user (see ImageOwners).
    /// </summary>
    public uint? BuilderUid { get; init; }

    /// <summary>The image's root filesystem on the host (filled in when read from the store).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string RootFs { get; set; } = "";

    public override string ToString() => Name;
}
