namespace Sandbox.Images;

/// <summary>The parameters of a debootstrap/mmdebstrap build; recorded in image.json for the cache.</summary>
public sealed class ImageBuildOptions
{
    public required string Suite { get; init; }
    public string? Mirror { get; init; }
    public string Variant { get; init; } = "minbase";
    public IReadOnlyList<string> Include { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> Components { get; init; } = Array.Empty<string>();
    public string? Architecture { get; init; }

    /// <summary>
    /// How mmdebstrap runs: null picks root as root and unshare otherwise; "fakechroot" makes an
    /// image whose files all belong to the user, which the FakeChroot provider needs.
    /// </summary>
    public string? Mode { get; init; }

    public Dictionary<string, string> ToParameters() => new()
    {
        ["suite"] = Suite,
        ["mirror"] = Mirror ?? "",
        ["variant"] = Variant,
        ["include"] = string.Join(',', Include.OrderBy(p => p, StringComparer.Ordinal)),
        ["components"] = string.Join(',', Components),
        ["architecture"] = Architecture ?? "",
        ["mode"] = Mode ?? "",
    };
}
