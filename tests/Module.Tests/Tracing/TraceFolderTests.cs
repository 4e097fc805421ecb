using Sandbox.Tests.Support;
using Sandbox.Tracing;
using Xunit;

namespace Sandbox.Tests.Tracing;

/// <summary>
/// Where root's strace writes its trace. Under sudo the sandbox's state folder is the caller's: a trace
/// folder made there can be renamed away and replaced, within the caller's own folder, by one with a
/// link at the FIFO's name, and strace (root) opens -o for writing through it, truncating the target.
/// </summary>
[Trait("Area", "Tracing")]
[Trait("User", "Root")]
public sealed class TraceFolderTests
{
    [SkippableFact]
    public void As_root_a_link_the_state_folders_owner_plants_at_the_trace_fifos_name_is_never_written_through()
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        Skip.If(Processes.ToolLocator.Find("strace") is null, "strace is not installed");
        UnprivilegedUser.Ensure();
        using var callers = new TemporaryFolder("trace-callers-state");
        RunAsRoot.Command("chown", $"{UnprivilegedUser.Name}:", callers.Path);
        using var victim = new PreciousFile("trace-victim");

        using var tracer = new CommandTracer(callers.Path);
        // The caller's move, as the reviewer's poller made it: every folder of theirs that root made is
        // moved aside, and one of their own takes its name, with the FIFO's name a link to the victim.
        foreach (var folder in Directory.GetDirectories(callers.Path))
        {
            Directory.Move(folder, folder + "-moved");
            Directory.CreateDirectory(folder);
            File.CreateSymbolicLink(Path.Combine(folder, "strace.fifo"), victim.Path);
        }
        var argv = tracer.Wrap(new[] { "/bin/true" }, 0);
        RunAsRoot.Command(argv[0], argv.Skip(1).ToArray());
        // Before Finish: where strace wrote elsewhere, our reader waits on the FIFO for good (Dispose bounds that).
        victim.AssertUntouched();
        Assert.NotEmpty(tracer.Finish().Records); // the trace still reached us: at least /bin/true's execve
    }
}
