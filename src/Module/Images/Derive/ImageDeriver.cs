using System.Text;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Images.Derive;

/// <summary>
/// Runs one provisioning step in a fresh sandbox of the parent image and publishes what it wrote as
/// a derived image (the parent plus one layer, through <see cref="SandboxEngine.CommitSandbox"/>).
/// The sandbox is an ordinary one owned by the calling process, so every way the step can end is
/// already handled: a failure or Ctrl-C removes it here and publishes nothing; a killed owner leaves
/// an orphan the next reap removes, and at most a layer staging folder the layer store sweeps. The
/// image's name only ever points at a complete image (publishing is a rename).
/// </summary>
internal sealed class ImageDeriver
{
    /// <summary>Parameters recorded in image.json; the key is what the cache compares.</summary>
    internal const string KeyParameter = "DeriveKey";


    private readonly SandboxEngine _engine;
    private readonly IEngineLog _log;

    public ImageDeriver(SandboxEngine engine, IEngineLog log)
    {
        _engine = engine;
        _log = log;
    }

    public SandboxImage Derive(DeriveStep step, CancellationToken cancellation)
    {
        NameRules.RequireValid("image", step.Name);
        // Exactly one of argv and script; an argv step needs a program to run.
        if ((step.Argv.Count == 0) == (step.Script is null) || (step.Script is null && string.IsNullOrEmpty(step.Argv[0])))
            throw SandboxErrors.EmptyCommand();
        var parent = _engine.Images.Get(step.From);
        if (parent.Id.Length == 0) throw SandboxErrors.DeriveParentHasNoLayers(parent.Name);
        // A provider named outright is not probed here: a cache hit needs no provider at all, and
        // CreateSandbox checks that it can run before a step does.
        var provider = step.Provider != ProviderName.Auto ? step.Provider : _engine.Providers.Get(step.Provider).Name;
        // FakeChroot commits its copy's difference from the parent (FakeChrootCommit), but never as root.
        if (provider == ProviderName.FakeChroot && Native.UserIdentity.IsRoot)
            throw SandboxErrors.DeriveProviderUnsupported(provider.ToString(),
                "it never runs as root: nothing but LD_PRELOAD would stand between the step and the host.");
        var network = step.Network ?? NetworkMode.Host;

        var parameters = ParametersFor(step, parent.Id, network, provider);
        var existing = _engine.Images.TryGet(step.Name);
        var replace = step.Force;
        if (existing is not null && !step.Force)
        {
            if (existing.Parameters.TryGetValue(KeyParameter, out var key) && key == parameters[KeyParameter])
            {
                _log.Verbose($"Image '{step.Name}' is up to date (same parent {parent.ShortId} and step); not running the step.");
                return existing;
            }
            if (!existing.Parameters.ContainsKey(KeyParameter)) throw SandboxErrors.ImageExists(step.Name);
            _log.Verbose(existing.ParentId != parent.Id
                ? $"Image '{step.Name}' was derived from another '{existing.Parent}' ({Short(existing.ParentId)}; now {parent.ShortId}): running the step again and replacing it."
                : $"Image '{step.Name}' was derived by another step: running the step again and replacing it.");
            replace = true;
        }
        else if (step.Force && existing is not null)
            _log.Verbose($"-Force: running the step again and replacing image '{step.Name}'.");

        var activity = $"Deriving image {step.Name} from {parent.Name}";
        _log.Progress(activity, "creating a sandbox", 0);
        var sandbox = _engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = parent.Name, Provider = provider, Network = network, Mounts = step.Mounts,
        });
        try
        {
            // The sandbox stands on the chain it recorded; if the parent was rebuilt meanwhile, the key names that chain.
            if (sandbox.Layers.Count > 0 && sandbox.Layers[0] != parent.Id)
                parameters = ParametersFor(step, sandbox.Layers[0], network, provider);
            // A fresh name each time: a file of that name in the parent would otherwise be overwritten
            // and its removal leave a whiteout in the layer.
            var scriptInside = $"/.sandbox-derive-step-{Guid.NewGuid():N}";
            var argv = step.Script is null ? step.Argv : CopyScriptIn(sandbox, step.Script, scriptInside, cancellation);
            _log.Progress(activity, "running " + Printable(step.Describe()), 10);
            var result = _engine.Invoke(sandbox, new SandboxCommand { Argv = argv, Environment = step.Environment },
                new OutputLines(StdOut: line =>
                {
                    var shown = Printable(line);
                    _log.Verbose(shown);
                    _log.Progress(activity, shown.Length == 0 ? "running" : shown, 10);
                }), cancellation);
            if (result.ExitCode != 0 || result.Signal is not null)
                throw SandboxErrors.DeriveStepFailed(step.Name, step.Describe(), result.ExitCode, result.Signal, result.StdErr);
            if (step.Script is not null) RemoveScript(sandbox, scriptInside, cancellation);
            _log.Progress(activity, "publishing its layer", 90);
            var image = _engine.CommitSandbox(sandbox.Id, step.Name, parameters, replace, cancellation);
            _log.Progress(activity, "done", 100);
            return image;
        }
        finally
        {
            try { _engine.RemoveSandbox(sandbox); }
            catch (SandboxException e) { _log.Warning($"The step's sandbox '{sandbox.Name}' was not removed ({e.Message}); Remove-Sandbox -Stale removes it."); }
        }
    }

    /// <summary>What image.json records: the key, and for people reading it, where the image came from.</summary>
    private static Dictionary<string, string> ParametersFor(DeriveStep step, string parentId, NetworkMode network, ProviderName provider) => new()
    {
        [KeyParameter] = DeriveCacheKey.Of(parentId, step.Argv, step.Script, step.Environment, network, provider, step.Mounts),
        ["From"] = parentId,
        ["Step"] = step.Describe(),
    };

    /// <summary>
    /// Writes the script's bytes (the very buffer the key was computed from) into the sandbox's root
    /// through the step's own stdin, and returns how to run it: by its shebang, else with sh.
    /// </summary>
    private IReadOnlyList<string> CopyScriptIn(SandboxInfo sandbox, byte[] script, string scriptInside, CancellationToken cancellation)
    {
        var copy = _engine.Invoke(sandbox, new SandboxCommand
        {
            Argv = new[] { "sh", "-c", "umask 077 && cat > \"$0\" && chmod 700 \"$0\"", scriptInside },
            StandardInput = script,
        }, null, cancellation);
        if (copy.ExitCode != 0)
            throw SandboxErrors.DeriveStepFailed(sandbox.Image, "copying the script in", copy.ExitCode, copy.Signal, copy.StdErr);
        var shebang = script.Length > 2 && script[0] == '#' && script[1] == '!';
        return shebang ? new[] { scriptInside } : new[] { "sh", scriptInside };
    }

    /// <summary>The script is not part of what the step made: removed before publishing (it never was in the parent, so no whiteout remains).</summary>
    private void RemoveScript(SandboxInfo sandbox, string scriptInside, CancellationToken cancellation) =>
        _engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "rm", "-f", scriptInside } }, null, cancellation);

    private static string Short(string? id) => id is { Length: > 12 } ? id[..12] : id ?? "none";

    /// <summary>A line of hostile output as shown in progress and verbose: control characters (terminal escapes) as '?', at most 300 characters.</summary>
    internal static string Printable(string line)
    {
        var shown = new StringBuilder(Math.Min(line.Length, 300));
        foreach (var c in line.Length > 300 ? line[..300] : line) shown.Append(char.IsControl(c) ? '?' : c);
        return shown.ToString().TrimEnd();
    }
}
