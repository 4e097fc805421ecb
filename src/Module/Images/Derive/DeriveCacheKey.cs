using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Images.Derive;

/// <summary>
/// The identity of a derived image: sha256 over a canonical encoding of everything that decides what
/// the step writes. Same inputs, same key, so a second derive returns the image without running
/// anything; a changed step, a rebuilt parent (a new content id) or another network or provider
/// gives another key. Every field is tagged and length-prefixed, so no two different inputs encode
/// to the same bytes (["a b"] and ["a","b"], or an argv word ending where an env value starts).
/// </summary>
internal static class DeriveCacheKey
{
    /// <summary>Bumped when the encoding or what a step means changes: old cached images then rebuild once.</summary>
    public const int FormatVersion = 1;

    public static string Of(string parentId, IReadOnlyList<string> argv, byte[]? script,
        IReadOnlyDictionary<string, string> environment, NetworkMode network, ProviderName provider,
        IReadOnlyList<BindMount> mounts)
    {
        using var buffer = new MemoryStream();
        void Field(string tag, ReadOnlySpan<byte> value)
        {
            Bytes(Encoding.ASCII.GetBytes(tag));
            Bytes(value);
        }
        void Bytes(ReadOnlySpan<byte> value)
        {
            Span<byte> length = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(length, value.Length);
            buffer.Write(length);
            buffer.Write(value);
        }
        void Text(string tag, string value) => Field(tag, Encoding.UTF8.GetBytes(value));

        Text("format", FormatVersion.ToString());
        Text("parent", parentId);
        Text("argc", argv.Count.ToString());
        foreach (var word in argv) Text("arg", word);
        // Absent and empty scripts differ: an argv step has no script at all.
        Text("script?", script is null ? "no" : "yes");
        if (script is not null) Field("script", script);
        var sorted = environment.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        Text("envc", sorted.Count.ToString());
        foreach (var (key, value) in sorted)
        {
            Text("env-key", key);
            Text("env-value", value);
        }
        Text("network", network.ToString());
        // Nspawn and Bubblewrap leave different traces in a layer (nspawn writes its own resolv.conf and machine-id handling).
        Text("provider", provider.ToString());
        Text("mountc", mounts.Count.ToString());
        foreach (var mount in mounts)
        {
            Text("mount-host", mount.HostPath);
            Text("mount-inside", mount.SandboxPath);
            Text("mount-ro", mount.ReadOnly ? "1" : "0");
        }
        return Convert.ToHexString(SHA256.HashData(buffer.ToArray())).ToLowerInvariant();
    }
}
