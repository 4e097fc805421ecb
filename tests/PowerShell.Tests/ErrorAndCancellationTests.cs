using System.Management.Automation;
using Sandbox.PowerShell.Tests.Support;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.PowerShell.Tests;

/// <summary>
/// Mistakes a user makes at the prompt come back as ErrorRecords with a stable error id, a
/// category and a message that names the fix; Ctrl-C stops a command without breaking its sandbox.
/// </summary>
[Collection(ModuleSessionCollection.Name)]
public sealed class ErrorAndCancellationTests(ModuleSession session)
{
    private readonly PowerShellSession _shell = session.Shell;

    public static TheoryData<string, string, ErrorCategory> BadInput() => new()
    {
        { "Enter-Sandbox -Image '../etc'", "InvalidName,Sandbox.Commands.EnterSandboxCommand", ErrorCategory.InvalidArgument },
        { "Enter-Sandbox -Image busybox -Name 'a/../b'", "InvalidName,Sandbox.Commands.EnterSandboxCommand", ErrorCategory.InvalidArgument },
        { "Enter-Sandbox -Image no-such-image", "ImageNotFound,Sandbox.Commands.EnterSandboxCommand", ErrorCategory.ObjectNotFound },
        { "Enter-Sandbox -Image busybox -Bind 'relative/path:/mnt'", "InvalidBind,Sandbox.Commands.EnterSandboxCommand", ErrorCategory.InvalidArgument },
        { "Enter-Sandbox -Image busybox -Bind '/no/such/folder:/mnt'", "InvalidBind,Sandbox.Commands.EnterSandboxCommand", ErrorCategory.InvalidArgument },
        { "Get-SandboxImage -Name no-such-image", "ImageNotFound,Sandbox.Commands.GetSandboxImageCommand", ErrorCategory.ObjectNotFound },
        { "Get-Sandbox -Name no-such-sandbox", "SandboxNotFound,Sandbox.Commands.GetSandboxCommand", ErrorCategory.ObjectNotFound },
        { "Invoke-SandboxCommand -Sandbox no-such-sandbox -Command true", "ParameterArgumentTransformationError,Sandbox.Commands.InvokeSandboxCommandCommand", ErrorCategory.InvalidData },
        { "Enter-Sandbox -Image busybox -Provider Docker", "CannotConvertArgumentNoMessage,Sandbox.Commands.EnterSandboxCommand", ErrorCategory.InvalidArgument },
        { "New-SandboxImage -Name imported -Path /no/such/tree", "ImageSourceNotFound,Sandbox.Commands.NewSandboxImageCommand", ErrorCategory.ObjectNotFound },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    public void Bad_input_is_an_error_record_with_its_id_and_category_and_leaves_no_sandbox(string script, string errorId, ErrorCategory category)
    {
        var sandboxesBefore = Directory.GetDirectories(Path.Combine(session.Store, "sandboxes")).Length;
        var imagesBefore = Directory.GetDirectories(Path.Combine(session.Store, "images")).Length;

        var error = _shell.Catch(script + " -ErrorAction Stop") ?? throw new Xunit.Sdk.XunitException($"'{script}' did not fail");
        Assert.Equal(errorId, error.FullyQualifiedErrorId);
        Assert.Equal(category, error.CategoryInfo.Category);
        Assert.False(string.IsNullOrWhiteSpace(error.Exception.Message));
        Assert.Equal(sandboxesBefore, Directory.GetDirectories(Path.Combine(session.Store, "sandboxes")).Length);
        Assert.Equal(imagesBefore, Directory.GetDirectories(Path.Combine(session.Store, "images")).Length);
    }

    [Fact]
    public void Removing_an_image_in_use_asks_for_Force()
    {
        var sandbox = _shell.Ok("Enter-Sandbox -Image busybox").Single();
        try
        {
            var refused = _shell.Catch("Remove-SandboxImage -Name busybox -ErrorAction Stop");
            Assert.Equal("ImageInUse,Sandbox.Commands.RemoveSandboxImageCommand", refused?.FullyQualifiedErrorId);
            Assert.Contains("-Force", refused!.Exception.Message);
            Assert.Single(_shell.Ok("Get-SandboxImage -Name busybox"));
        }
        finally
        {
            _shell.Ok("$args[0] | Remove-Sandbox", sandbox);
        }
    }

    [Fact]
    public async Task Ctrl_C_during_a_command_kills_its_tree_and_the_sandbox_still_runs_the_next()
    {
        var sandbox = _shell.Ok("Enter-Sandbox -Image busybox -Provider Bubblewrap").Single();
        var seconds = Random.Shared.Next(1000, 9999).ToString();
        try
        {
            var running = Task.Run(() => _shell.Run("Invoke-SandboxCommand -Sandbox $args[0] -Command sh, -c, $args[1]",
                sandbox, $"sleep {seconds} & sleep {seconds}"));
            Assert.True(Poll.Until(() => HostProcesses.WithCommandLine("sleep", seconds).Count == 2, TimeSpan.FromSeconds(20)),
                "the command is running");

            _shell.PressCtrlC();

            var stopped = await running.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(stopped.Stopped, $"the pipeline was stopped, not ended: {stopped.Describe()}");
            Assert.Empty(HostProcesses.StillRunningAfter(TimeSpan.FromSeconds(5), "sleep", seconds));
            Assert.Equal("after\n", _shell.Ok("(Invoke-SandboxCommand -Sandbox $args[0] -Command echo, after).StdOut", sandbox)
                .Single().BaseObject);
        }
        finally
        {
            _shell.Ok("$args[0] | Remove-Sandbox", sandbox);
        }
    }
}
