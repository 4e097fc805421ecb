namespace Sandbox.Providers;

/// <summary>The providers this build knows, in the order Auto tries them.</summary>
public sealed class ProviderCatalog
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
        var provider = _providers.FirstOrDefault(p => p.Name == name)
            ?? throw SandboxErrors.ProviderUnavailable(name.ToString(), "this version of the module does not include it.", null);
        var probe = provider.Probe();
        if (!probe.Available) throw SandboxErrors.ProviderUnavailable(name.ToString(), probe.Reason ?? "unknown", probe.InstallHint);
        return provider;
    }

    /// <summary>The provider that made an existing sandbox (no availability check: it may be removed anyway).</summary>
    public ISandboxProvider For(SandboxInfo sandbox) =>
        _providers.FirstOrDefault(p => p.Name.ToString() == sandbox.Provider)
        ?? throw SandboxErrors.ProviderUnavailable(sandbox.Provider, "this version of the module does not include it.", null);
}
