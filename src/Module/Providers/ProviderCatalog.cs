namespace Sandbox.Providers;

/// <summary>
/// The providers this build knows, keyed by <see cref="ProviderName"/>, in the order Auto tries
/// them. A new provider is registered here (one line) and gets a table in
/// Failures.ProviderFailureTables and a conformance class in tests/Module.Tests/Conformance.
/// </summary>
internal sealed class ProviderCatalog
{
    private readonly IReadOnlyList<ISandboxProvider> _providers;

    public ProviderCatalog(IEngineLog log, Storage.StoreLayout layout, Func<string, SandboxImage> images)
    {
        _providers = new ISandboxProvider[]
        {
            new BubblewrapProvider(log, sandbox => Storage.FileLock.Acquire(layout.LockFile("sandbox", sandbox.Id))),
            new NspawnProvider(log),
            new FakeChrootProvider(log, layout, images),
        };
    }

    public IReadOnlyList<ISandboxProvider> All => _providers;

    public ISandboxProvider Get(ProviderName name)
    {
        if (name == ProviderName.Auto)
        {
            var usable = _providers.FirstOrDefault(p => p.Probe().Available);
            return usable ?? throw SandboxErrors.NoProviderAvailable(
                string.Join(" ", _providers.Select(p => $"{p.Name}: {p.Probe().Reason}")));
        }
        var provider = Registered(name);
        var probe = provider.Probe();
        if (!probe.Available) throw SandboxErrors.ProviderUnavailable(name.ToString(), probe.Reason ?? "unknown", probe.InstallHint);
        return provider;
    }

    /// <summary>The provider that made an existing sandbox (no availability check: it may be removed anyway).</summary>
    public ISandboxProvider For(SandboxInfo sandbox) => Registered(KindOf(sandbox));

    /// <summary>
    /// The provider named in a sandbox's state.json, as the enum. Only the exact names of real
    /// providers count: "Auto", a number or another spelling in a record is not a provider.
    /// </summary>
    public static ProviderName KindOf(SandboxInfo sandbox)
    {
        // Not Enum.TryParse: it takes "2", " nspawn" and any case, none of which this module writes.
        foreach (var kind in Enum.GetValues<ProviderName>())
            if (kind != ProviderName.Auto && kind.ToString() == sandbox.Provider) return kind;
        throw SandboxErrors.ProviderUnavailable(sandbox.Provider, "this version of the module does not include it.", null);
    }

    private ISandboxProvider Registered(ProviderName kind) =>
        _providers.FirstOrDefault(p => p.Name == kind)
        ?? throw SandboxErrors.ProviderUnavailable(kind.ToString(), "this version of the module does not include it.", null);
}
