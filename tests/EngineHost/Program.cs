using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Sandbox;
using Sandbox.Storage;

// Usage:
//   EngineHost serve <store>                 JSON requests on stdin, one response line each
//   EngineHost shell <store> <image> [K=V..] create a sandbox, run its shell on this terminal, remove it
//                                            (provider: $ENGINEHOST_PROVIDER, else Auto; booted if $ENGINEHOST_BOOT=1)
// "debootstrap": build with debootstrap even where mmdebstrap is installed (see DebianBuilder.OnlyBuilder).
Sandbox.Images.DebianBuilder.OnlyBuilder = Environment.GetEnvironmentVariable("ENGINEHOST_BUILDER");
// A number of bytes: the tmpfs size root builds get instead of the measured one (0: on the disk; see BuildMemory.SizeOverride).
if (long.TryParse(Environment.GetEnvironmentVariable("ENGINEHOST_BUILD_MEMORY"), out var buildMemory)) Sandbox.Images.BuildMemory.SizeOverride = buildMemory;
var json = new JsonSerializerOptions { Converters = { new JsonStringEnumConverter() } };
SandboxEngine engine;
try { engine = new SandboxEngine(new StoreLayout(args[1])); }
catch (SandboxException e) // a store refused at open: one error line, as for any request, then exit
{
    Console.WriteLine(new JsonObject { ["ok"] = false, ["errorId"] = e.ErrorId, ["kind"] = e.Kind.ToString(), ["message"] = e.Message }.ToJsonString());
    return 3;
}

if (args[0] == "shell")
{
    var environment = args.Skip(3).Select(a => a.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
    var provider = Enum.Parse<ProviderName>(Environment.GetEnvironmentVariable("ENGINEHOST_PROVIDER") ?? "Auto");
    var sandbox = engine.CreateSandbox(new SandboxCreateOptions
    {
        Image = args[2], Environment = environment, Provider = provider, Boot = Environment.GetEnvironmentVariable("ENGINEHOST_BOOT") == "1",
    });
    Console.Error.WriteLine($"sandbox {sandbox.Id}");
    var exitCode = engine.RunShell(sandbox);
    engine.RemoveSandbox(sandbox);
    Console.Error.WriteLine($"shell exited {exitCode}; removed {sandbox.Id}");
    return exitCode;
}

while (Console.ReadLine() is { } line)
{
    JsonNode response;
    try
    {
        var request = JsonNode.Parse(line)!;
        var arguments = request["args"];
        T Arg<T>() => arguments.Deserialize<T>(json)!;
        SandboxInfo Sandbox() => engine.GetSandbox(arguments!["sandbox"]!.GetValue<string>());
        object? value = request["op"]!.GetValue<string>() switch
        {
            "import" => engine.Images.Import(arguments!["name"]!.GetValue<string>(), arguments["path"]!.GetValue<string>(), false),
            "export" => engine.Images.Export(arguments!["name"]!.GetValue<string>(), arguments["path"]!.GetValue<string>(), false).FullName,
            "build" => engine.Images.Build(arguments!["name"]!.GetValue<string>(),
                arguments["options"].Deserialize<Sandbox.Images.ImageBuildOptions>(json)!, false),
            "create" => engine.CreateSandbox(Arg<SandboxCreateOptions>()),
            "invoke" => engine.Invoke(Sandbox(), arguments!["command"].Deserialize<SandboxCommand>(json)!),
            "remove" => Remove(Sandbox()),
            "copyin" => CopyIn(Sandbox(), arguments!["host"]!.GetValue<string>(), arguments["inside"]!.GetValue<string>()),
            "copyout" => engine.Items.CopyOutOf(Sandbox(), arguments!["inside"]!.GetValue<string>(), arguments["host"]!.GetValue<string>()).FullName,
            "stat" => engine.GetStat(Sandbox()),
            "changes" => engine.GetChanges(Sandbox()).ToList(),
            "list" => engine.GetSandboxes(),
            "whoami" => Environment.UserName,
            "reap" => engine.ReapOrphans(),
            "commit" => engine.CommitSandbox(arguments!["sandbox"]!.GetValue<string>(), arguments["name"]!.GetValue<string>(),
                new Dictionary<string, string>(), false, CancellationToken.None),
            "derive" => engine.DeriveImage(arguments.Deserialize<Sandbox.Images.Derive.DeriveStep>(json)!),
            "pid" => Environment.ProcessId,
            var other => throw new InvalidOperationException($"unknown op {other}"),
        };
        response = new JsonObject { ["ok"] = true, ["value"] = JsonSerializer.SerializeToNode(value, json) };
    }
    catch (SandboxException e)
    {
        response = new JsonObject
        {
            ["ok"] = false, ["errorId"] = e.ErrorId, ["kind"] = e.Kind.ToString(), ["message"] = e.Message,
        };
    }
    catch (Exception e)
    {
        response = new JsonObject { ["ok"] = false, ["errorId"] = "HostException", ["kind"] = "InvalidOperation", ["message"] = e.ToString() };
    }
    Console.WriteLine(response.ToJsonString());
}
return 0;

object? CopyIn(SandboxInfo sandbox, string host, string inside)
{
    engine.Items.CopyInto(sandbox, host, inside);
    return null;
}

object? Remove(SandboxInfo sandbox)
{
    engine.RemoveSandbox(sandbox);
    return null;
}
