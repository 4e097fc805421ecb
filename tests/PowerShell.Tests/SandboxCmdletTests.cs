using System.Management.Automation;
using Sandbox.PowerShell.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// The everyday session, once per root provider: enter a sandbox, run commands through the
/// pipeline, read results, copy files, look at the cost, remove it. Only cmdlets and their
/// output objects are used, as a script would.
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class SandboxCmdletTests(ModuleSession session) : IDisposable
{
    private readonly PowerShellSession _shell = session.Shell;
    private PSObject? _sandbox;

    public static TheoryData<string> Providers() => new() { "Bubblewrap", "Nspawn" };

    private PSObject Enter(string provider, string name)
    {
        Skip.If(provider == "Nspawn" && Environment.UserName != "root", "Nspawn needs root; run the tests as root (CI does).");
        _sandbox = _shell.Ok("Enter-Sandbox -Image busybox -Provider $args[0] -Name $args[1] -Environment @{ GREETING = 'hi' }",
            provider, name).Single();
        return _sandbox;
    }

    private PSObject Invoke(string script) => _shell.Ok(script, _sandbox).Single();

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public void Results_carry_exit_code_separate_streams_stdin_and_environment(string provider)
    {
        var sandbox = Enter(provider, $"results-{provider.ToLowerInvariant()}");
        Assert.Equal("Ready", sandbox.Get<string>("Status"));
        Assert.Equal(provider, sandbox.Get<string>("Provider"));

        var result = Invoke("Invoke-SandboxCommand -Sandbox $args[0] -Command sh, -c, 'echo out; echo err >&2; exit 3'");
        Assert.Equal("Sandbox.SandboxCommandResult", result.TypeNames[0]);
        Assert.Equal(3, result.Get<int>("ExitCode"));
        Assert.Equal("out\n", result.Get<string>("StdOut"));
        Assert.Equal("err\n", result.Get<string>("StdErr"));

        Assert.Equal("one\ntwo\n", Invoke("Invoke-SandboxCommand -Sandbox $args[0] -Command cat -InputObject one, two").Get<string>("StdOut"));
        Assert.Equal("hi\n", Invoke("$args[0] | Invoke-SandboxCommand -Command sh, -c, 'echo $GREETING'").Get<string>("StdOut"));
        Assert.Equal(0, _shell.Ok("(Invoke-SandboxCommand -Sandbox $args[0] -Command true).ExitCode", sandbox.Get<string>("Name"))
            .Single().BaseObject);
    }

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public void Stream_writes_lines_and_Check_turns_a_failure_into_an_error(string provider)
    {
        Enter(provider, $"stream-{provider.ToLowerInvariant()}");
        var lines = _shell.Ok("Invoke-SandboxCommand -Sandbox $args[0] -Command sh, -c, 'echo a; echo b' -Stream", _sandbox);
        Assert.Equal(new[] { "a", "b" }, lines.Select(l => l.BaseObject));

        var failed = _shell.Catch("Invoke-SandboxCommand -Sandbox $args[0] -Command false -Check -ErrorAction Stop", _sandbox);
        Assert.Equal("CommandFailed,Sandbox.Commands.InvokeSandboxCommandCommand", failed?.FullyQualifiedErrorId);

        var missing = _shell.Run("Invoke-SandboxCommand -Sandbox $args[0] -Command no-such-program", _sandbox);
        Assert.Equal("CommandNotFound,Sandbox.Commands.InvokeSandboxCommandCommand", Assert.Single(missing.ErrorIds));
        Assert.Equal(ErrorCategory.ObjectNotFound, missing.Errors.Single().CategoryInfo.Category);
    }

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public void Timeout_reports_the_kill_and_writes_persist_while_the_image_stays_as_it_was(string provider)
    {
        Enter(provider, $"persist-{provider.ToLowerInvariant()}");
        var timedOut = Invoke("Invoke-SandboxCommand -Sandbox $args[0] -Command sleep, 600 -TimeoutSec 1");
        Assert.True(timedOut.Get<bool>("TimedOut"));
        Assert.Equal("SIGKILL", timedOut.Get<string>("Signal"));

        Invoke("Invoke-SandboxCommand -Sandbox $args[0] -Command sh, -c, 'echo changed > /data/file.txt'");
        Assert.Equal("changed\n", Invoke("Invoke-SandboxCommand -Sandbox $args[0] -Command cat, /data/file.txt").Get<string>("StdOut"));
        Assert.Equal("original content\n", File.ReadAllText(Path.Combine(session.Store, "layers", System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(session.Store, "images", ModuleSession.Image, "image.json")))!["Layers"]![0]!.GetValue<string>(), "tree", "data", "file.txt")));

        var stat = Invoke("Get-SandboxStat -Sandbox $args[0]");
        Assert.True(stat.Get<int>("CommandsRun") >= 3);
        Assert.True(stat.Get<int>("FilesModified") >= 1);
        var changed = _shell.Ok("(Get-SandboxStat -Sandbox $args[0] -Changes).Path", _sandbox).Select(p => p.ToString());
        Assert.Contains("/data/file.txt", changed);
    }

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public void Copy_SandboxItem_copies_in_and_out_and_passes_the_host_file_through(string provider)
    {
        Enter(provider, $"copy-{provider.ToLowerInvariant()}");
        var source = Path.Combine(session.Folder, $"to-copy-{provider}.txt");
        File.WriteAllText(source, "copied in\n");
        _shell.Ok("Copy-SandboxItem -Sandbox $args[0] -Path $args[1] -Destination /root/inbox", _sandbox, source);
        Assert.Equal("copied in\n", Invoke($"Invoke-SandboxCommand -Sandbox $args[0] -Command cat, /root/inbox/to-copy-{provider}.txt").Get<string>("StdOut"));

        var outFolder = Directory.CreateDirectory(Path.Combine(session.Folder, $"out-{provider}")).FullName;
        var copied = _shell.Ok("Copy-SandboxItem -Sandbox $args[0] -Path $args[1] -Destination $args[2] -FromSandbox -PassThru",
            _sandbox, $"/root/inbox/to-copy-{provider}.txt", outFolder).Single();
        var file = Assert.IsType<FileInfo>(copied.BaseObject);
        Assert.Equal("copied in\n", File.ReadAllText(file.FullName));
    }

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public void WhatIf_keeps_the_sandbox_and_Remove_Sandbox_takes_it_and_its_folder(string provider)
    {
        var sandbox = Enter(provider, $"removal-{provider.ToLowerInvariant()}");
        var folder = Path.Combine(session.Store, "sandboxes", sandbox.Get<string>("Id")!);

        _shell.Ok("$args[0] | Remove-Sandbox -WhatIf", sandbox);
        Assert.Single(_shell.Ok("Get-Sandbox -Id $args[0]", sandbox.Get<string>("Id")));

        _shell.Ok("Get-Sandbox -Name $args[0] | Remove-Sandbox", sandbox.Get<string>("Name"));
        Assert.Empty(_shell.Ok("Get-Sandbox -Name $args[0] -ErrorAction SilentlyContinue", sandbox.Get<string>("Name")));
        Assert.False(Directory.Exists(folder));
        _sandbox = null;
    }

    [SkippableTheory]
    [MemberData(nameof(Providers))]
    public void One_shot_command_from_an_image_leaves_no_sandbox(string provider)
    {
        Skip.If(provider == "Nspawn" && Environment.UserName != "root", "Nspawn needs root; run the tests as root (CI does).");
        var before = _shell.Ok("Get-Sandbox").Count;
        var result = _shell.Ok("Invoke-SandboxCommand -Image busybox -Provider $args[0] -Command echo, once", provider).Single();
        Assert.Equal("once\n", result.Get<string>("StdOut"));
        Assert.Equal(before, _shell.Ok("Get-Sandbox").Count);
    }

    public void Dispose()
    {
        if (_sandbox is not null) _shell.Run("$args[0] | Remove-Sandbox", _sandbox);
    }
}
