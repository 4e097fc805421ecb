namespace Sandbox;

/// <summary>Which provider runs a sandbox. Auto picks the first usable one, in this order.</summary>
public enum ProviderName
{
    Auto,
    Bubblewrap,
    Nspawn,
    FakeChroot,
}

/// <summary>What network a sandbox sees: none at all (a private loopback only), or the host's.</summary>
public enum NetworkMode
{
    None,
    Host,
}

/// <summary>Whether a sandbox's owning process is still alive.</summary>
public enum SandboxStatus
{
    Ready,
    Orphaned,
}

/// <summary>How a path in a sandbox differs from its image.</summary>
public enum SandboxChangeKind
{
    Added,
    Modified,
    Deleted,
}
