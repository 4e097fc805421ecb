using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Sandbox.Tests.Support;

/// <summary>
/// The engine running as the unprivileged test user in an EngineHost process (runuser), driven one
/// JSON request per line. Errors come back with their error id and are rethrown as SandboxException,
/// so the conformance suite asserts the same things in both harnesses.
/// </summary>
public sealed class RemoteHarness : ISandboxHarness
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };
    private readonly TemporaryFolder _folder = new("userstore");
    private readonly Process _host;
    private readonly object _gate = new();
    private bool _killed;

    /// <summary>
    /// An EngineHost as the unprivileged test user over a store of its own; or, with
    /// <paramref name="asRoot"/>, as root over <paramref name="sharedStore"/> (for tests that need
    /// several processes on one store, or a process to kill).
    /// </summary>
    /// <param name="storeMissing">Leaves <paramref name="sharedStore"/> (and folders above it) for the engine to make on first use.</param>
    public RemoteHarness(bool asRoot = false, string? sharedStore = null, IReadOnlyDictionary<string, string>? environment = null, bool storeMissing = false)
    {
        StoreRoot = sharedStore ?? Path.Combine(_folder.Path, "store");
        if (!storeMissing) Directory.CreateDirectory(StoreRoot);
        var start = new ProcessStartInfo(asRoot ? "env" : "runuser")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false,
            UseShellExecute = false, WorkingDirectory = "/tmp",
        };
        var prefix = asRoot ? Array.Empty<string>() : new[] { "-u", UnprivilegedUser.Name, "--", "env" };
        if (!asRoot)
        {
            UnprivilegedUser.Ensure();
            RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", StoreRoot);
        }
        foreach (var word in prefix.Concat(new[]
                 {
                     "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
                     $"HOME={(asRoot ? "/root" : "/home/" + UnprivilegedUser.Name)}", "DOTNET_CLI_TELEMETRY_OPTOUT=1", "DOTNET_NOLOGO=1",
                     "TERM=dumb",
                 }).Concat((environment ?? new Dictionary<string, string>()).Select(kv => $"{kv.Key}={kv.Value}"))
                 .Concat(new[] { "dotnet", EngineHostFiles.EntryAssembly, "serve", StoreRoot }))
            start.ArgumentList.Add(word);
        _host = Process.Start(start)!;
        User = Call<string>("whoami", new JsonObject());
        HostPid = Call<int>("pid", new JsonObject());
    }

    /// <summary>The pid of the EngineHost process itself (under env or runuser).</summary>
    public int HostPid { get; }

    /// <summary>
    /// Kills the EngineHost with SIGKILL, as a crashed owner would die, and waits until its wrapper
    /// (runuser or env) has exited too, so Dispose neither talks to a dead host nor races its exit.
    /// </summary>
    public void KillHost()
    {
        _killed = true;
        RunAsRoot.Command("kill", "-9", HostPid.ToString());
        if (!_host.WaitForExit(20_000)) throw new TimeoutException($"EngineHost {HostPid} still runs 20 s after SIGKILL.");
    }

    /// <summary>Starts committing a sandbox without waiting for the answer, for tests that kill the host meanwhile.</summary>
    public void StartCommit(string sandbox, string image)
    {
        lock (_gate)
        {
            _host.StandardInput.WriteLine(new JsonObject
            {
                ["op"] = "commit", ["args"] = new JsonObject { ["sandbox"] = sandbox, ["name"] = image },
            }.ToJsonString());
            _host.StandardInput.Flush();
        }
    }

    /// <summary>Sends a command without waiting for its answer, for tests that kill the host meanwhile.</summary>
    public void StartInvoke(string sandbox, SandboxCommand command)
    {
        lock (_gate)
        {
            _host.StandardInput.WriteLine(new JsonObject
            {
                ["op"] = "invoke",
                ["args"] = new JsonObject { ["sandbox"] = sandbox, ["command"] = JsonSerializer.SerializeToNode(command, Json) },
            }.ToJsonString());
            _host.StandardInput.Flush();
        }
    }

    public string User { get; }
    public string StoreRoot { get; }

    public SandboxImage Import(string name, string path) =>
        Call<SandboxImage>("import", new JsonObject { ["name"] = name, ["path"] = path });

    public SandboxImage Build(string name, Images.ImageBuildOptions options) =>
        Call<SandboxImage>("build", new JsonObject { ["name"] = name, ["options"] = JsonSerializer.SerializeToNode(options, Json) });

    public SandboxInfo Create(SandboxCreateOptions options) =>
        Call<SandboxInfo>("create", JsonSerializer.SerializeToNode(options, Json)!);

    public SandboxCommandResult Invoke(string sandbox, SandboxCommand command) =>
        Call<SandboxCommandResult>("invoke", new JsonObject
        {
            ["sandbox"] = sandbox, ["command"] = JsonSerializer.SerializeToNode(command, Json),
        });

    public SandboxImage Commit(string sandbox, string image) =>
        Call<SandboxImage>("commit", new JsonObject { ["sandbox"] = sandbox, ["name"] = image });

    /// <summary>New-SandboxImage -From -Run as this harness's user (SandboxEngine.DeriveImage).</summary>
    public SandboxImage Derive(Images.Derive.DeriveStep step) => Call<SandboxImage>("derive", JsonSerializer.SerializeToNode(step, Json)!);

    public IReadOnlyList<string> ReapOrphans() => Call<List<string>>("reap", new JsonObject());

    public string Export(string image, string path) =>
        Call<string>("export", new JsonObject { ["name"] = image, ["path"] = path });

    public void Remove(string sandbox) => Call<JsonNode?>("remove", new JsonObject { ["sandbox"] = sandbox });

    public SandboxStat Stat(string sandbox) => Call<SandboxStat>("stat", new JsonObject { ["sandbox"] = sandbox });

    /// <summary>What Get-SandboxStat -Changes lists: the engine's GetChanges.</summary>
    public IReadOnlyList<SandboxChange> Changes(string sandbox) => Call<List<SandboxChange>>("changes", new JsonObject { ["sandbox"] = sandbox });

    public IReadOnlyList<SandboxInfo> List() => Call<List<SandboxInfo>>("list", new JsonObject());

    public void CopyInto(string sandbox, string hostPath, string sandboxFolder) =>
        Call<JsonNode?>("copyin", new JsonObject { ["sandbox"] = sandbox, ["host"] = hostPath, ["inside"] = sandboxFolder });

    public string CopyOutOf(string sandbox, string sandboxPath, string hostFolder) =>
        Call<string>("copyout", new JsonObject { ["sandbox"] = sandbox, ["host"] = hostFolder, ["inside"] = sandboxPath });

    private T Call<T>(string operation, JsonNode arguments)
    {
        string? line;
        lock (_gate)
        {
            _host.StandardInput.WriteLine(new JsonObject { ["op"] = operation, ["args"] = arguments }.ToJsonString());
            _host.StandardInput.Flush();
            line = _host.StandardOutput.ReadLine();
        }
        if (line is null) throw new InvalidOperationException($"EngineHost (as {UnprivilegedUser.Name}) exited during '{operation}'.");
        var response = JsonNode.Parse(line)!;
        if (!response["ok"]!.GetValue<bool>())
            throw new SandboxException(response["errorId"]!.GetValue<string>(),
                Enum.Parse<SandboxErrorKind>(response["kind"]!.GetValue<string>()), response["message"]!.GetValue<string>());
        return response["value"].Deserialize<T>(Json)!;
    }

    public void Dispose()
    {
        try
        {
            // A killed host's sandboxes are orphans for the test to reap, not ours to remove.
            if (!_killed && !_host.HasExited) foreach (var sandbox in List()) Remove(sandbox.Id);
        }
        finally
        {
            try { _host.StandardInput.Close(); }
            catch (IOException) when (_killed || _host.HasExited) { /* the pipe's reader is gone */ }
            if (!_host.WaitForExit(10_000)) _host.Kill(entireProcessTree: true);
            _host.Dispose();
            _folder.Dispose();
        }
    }
}
