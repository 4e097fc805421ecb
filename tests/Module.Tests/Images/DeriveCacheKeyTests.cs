using Sandbox.Images.Derive;
using Xunit;

namespace Sandbox.Tests.Derive;

/// <summary>The derive cache key is a pure function: every input that decides what a step writes changes it; nothing else does.</summary>
public sealed class DeriveCacheKeyTests
{
    private static readonly string Parent = new('a', 64);

    private static string Key(string? parent = null, string[]? argv = null, byte[]? script = null,
        Dictionary<string, string>? env = null, NetworkMode network = NetworkMode.Host, ProviderName provider = ProviderName.Bubblewrap,
        BindMount[]? mounts = null) =>
        DeriveCacheKey.Of(parent ?? Parent, argv ?? new[] { "apt-get", "install", "-y", "jq" }, script,
            env ?? new Dictionary<string, string> { ["A"] = "1", ["B"] = "2" }, network, provider, mounts ?? Array.Empty<BindMount>());

    [Fact]
    public void Same_inputs_give_the_same_key_a_sha256_in_lowercase_hex()
    {
        Assert.Equal(Key(), Key());
        Assert.Matches("^[0-9a-f]{64}$", Key());
    }

    [Fact]
    public void The_order_of_environment_keys_does_not_matter()
    {
        var reversed = new Dictionary<string, string> { ["B"] = "2", ["A"] = "1" };
        Assert.Equal(Key(), Key(env: reversed));
    }

    [Fact]
    public void Every_part_changes_the_key()
    {
        var keys = new[]
        {
            Key(),
            Key(parent: new string('b', 64)),
            Key(argv: new[] { "apt-get", "install", "-y", "curl" }),
            Key(argv: new[] { "apt-get", "install", "-y" }),
            Key(env: new Dictionary<string, string> { ["A"] = "1", ["B"] = "3" }),
            Key(env: new Dictionary<string, string> { ["A"] = "1" }),
            Key(network: NetworkMode.None),
            Key(provider: ProviderName.Nspawn),
            Key(mounts: new[] { new BindMount("/srv", "/srv", ReadOnly: true) }),
            Key(mounts: new[] { new BindMount("/srv", "/srv", ReadOnly: false) }),
            Key(argv: Array.Empty<string>(), script: "echo hi\n"u8.ToArray()),
            Key(argv: Array.Empty<string>(), script: "echo ho\n"u8.ToArray()),
            Key(argv: Array.Empty<string>(), script: Array.Empty<byte>()),
            Key(argv: Array.Empty<string>()),
        };
        Assert.Equal(keys.Length, keys.Distinct().Count());
    }

    [Fact]
    public void Word_boundaries_are_part_of_the_key()
    {
        // Length prefixes: one word "a b" is not the words "a" and "b", and a word cannot run into the next field.
        Assert.NotEqual(Key(argv: new[] { "sh", "-c", "a b" }), Key(argv: new[] { "sh", "-c", "a", "b" }));
        Assert.NotEqual(Key(argv: new[] { "ab", "c" }), Key(argv: new[] { "a", "bc" }));
        Assert.NotEqual(Key(env: new Dictionary<string, string> { ["A"] = "1B2" }),
                        Key(env: new Dictionary<string, string> { ["A"] = "1", ["B"] = "2" }));
    }
}
