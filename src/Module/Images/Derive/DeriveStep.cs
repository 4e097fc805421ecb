namespace Sandbox.Images.Derive;

/// <summary>
/// What New-SandboxImage -From asks for: image <see cref="Name"/> = image <see cref="From"/> plus what
/// one step writes, the step being <see cref="Argv"/> or a host script's bytes (<see cref="Script"/>).
/// </summary>
public sealed class DeriveStep
{
    public required string Name { get; init; }
    public required string From { get; init; }

    /// <summary>The command's words (never a shell string); empty when <see cref="Script"/> is given.</summary>
    public IReadOnlyList<string> Argv { get; init; } = Array.Empty<string>();

    /// <summary>The script's bytes, read once from the host (hashed and copied in from this same buffer); null for an argv step.</summary>
    public byte[]? Script { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Null is Host: provisioning downloads packages (apt-get, pip, curl), as -Suite builds do.
    /// None makes a hermetic step (the cache then also tells it apart from a networked one).
    /// </summary>
    public NetworkMode? Network { get; init; }

    public ProviderName Provider { get; init; } = ProviderName.Auto;

    /// <summary>Host folders the step sees (a package cache, a counter); their places are part of the cache key, their contents are not.</summary>
    public IReadOnlyList<BindMount> Mounts { get; init; } = Array.Empty<BindMount>();

    public bool Force { get; init; }

    /// <summary>How the step reads in messages: its argv, or the script's first line.</summary>
    internal string Describe() => Script is null
        ? string.Join(' ', Argv)
        : "script " + (System.Text.Encoding.UTF8.GetString(Script, 0, Math.Min(Script.Length, 200)).Split('\n')[0]);

    /// <summary>
    /// Reads -Script once, bounded: a host file of the caller's, followed through links, that must be
    /// a regular file (a FIFO would hang the read, a device never end it).
    /// </summary>
    public static byte[] ReadScript(string path)
    {
        const int limit = 16 << 20;
        var target = File.Exists(path) && new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true) is { } link ? link.FullName : path;
        if (Native.FileStatus.Of(target) is not { IsRegularFile: true })
            throw SandboxErrors.DeriveScriptUnusable(path, "it does not exist or is not a regular file.");
        using var stream = new FileStream(target, FileMode.Open, FileAccess.Read);
        var bytes = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            bytes.Write(chunk, 0, n);
            if (bytes.Length > limit) throw SandboxErrors.DeriveScriptUnusable(path, "it is larger than 16 MiB.");
        }
        return bytes.ToArray();
    }
}
