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

    /// <summary>
    /// The content id (lowercase hex sha256) of the image's top layer, which covers every layer below
    /// it (a layer's id chains its parent's). Empty for images of older versions (one folder, no layers).
    /// </summary>
    public string Id { get; init; } = "";

    /// <summary>The first 12 characters of <see cref="Id"/>, as shown in tables.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string ShortId => Id.Length > 12 ? Id[..12] : Id;

    /// <summary>The image it was derived from, as named when it was made; null for a base image (built or imported).</summary>
    public string? Parent { get; init; }

    /// <summary>The parent's content id when this image was made; null for a base image.</summary>
    public string? ParentId { get; init; }

    /// <summary>The layer ids of the image, its own first, its base last (one for a base image, none for an older version's image).</summary>
    public List<string> Layers { get; init; } = new();

    /// <summary>The image names of the chain when it was made, its own first: app, deps, bookworm.</summary>
    public List<string> Chain { get; init; } = new();

    /// <summary>Bytes on disk of the image's own layer.</summary>
    public long LayerSize { get; init; }

    /// <summary>Bytes on disk of all its layers together.</summary>
    public long TotalSize { get; init; }

    /// <summary>The image's root filesystem on the host (filled in when read from the store): its top layer's tree.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string RootFs { get; set; } = "";

    /// <summary>The host folders of its layers, topmost first (filled in when read from the store).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> LayerFolders { get; set; } = Array.Empty<string>();

    private long _sizeBytes = -1;

    /// <summary>
    /// The apparent size of every layer of the image (whiteouts and copied-up files counted as they lie),
    /// measured when first read and then kept: only a view or a script that reads it pays for the walk.
    /// A property of the class rather than one added by a types file, which would cost every runspace
    /// that imports the module a rebuild of its type table (ForEach-Object -Parallel imports it in each).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long SizeBytes
    {
        get
        {
            var known = Interlocked.Read(ref _sizeBytes);
            if (known >= 0) return known;
            var measured = LayerFolders.Count > 0 ? LayerFolders.Sum(Images.ImageSize.Of) : Images.ImageSize.Of(RootFs);
            Interlocked.Exchange(ref _sizeBytes, measured);
            return measured;
        }
    }

    public override string ToString() => Name;
}
