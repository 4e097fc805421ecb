using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Sandbox.Native;
using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Reliability;

/// <summary>
/// Under sudo the state folder is the caller's, and every Nspawn sandbox (booted or not) looked for a
/// booted machine's record there (boot.json). The caller wrote one naming a process of the host's as
/// the machine's nspawn and leader (pid 1 would do: its start time is readable by anyone; here a
/// sleep of the test's own): the next command ran through nsenter into that process's namespaces, as
/// root on the host, and Remove-Sandbox SIGTERMed and SIGKILLed its tree. A machine's record now lives
/// in a folder only root can reach (MachineFolder), and its processes are proven to be the machine's
/// before anything enters or signals them (MachineProcesses).
/// The engine is a real EngineHost as root with SUDO_UID set over a store of the test user's, and the
/// record is written by that user (setpriv to their ids).
/// </summary>
[Trait("Area", "Reliability")]
[Trait("Provider", "Nspawn")]
[Trait("User", "Root")]
public sealed class ForgedBootRecordTests
{
    /// <param name="claimsBooted">The caller also set "Boot": true in state.json (theirs too): the command then
    /// ran without a pid namespace of its own, and nsenter reached the named process.</param>
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_boot_record_the_caller_forged_in_a_plain_sandbox_enters_and_kills_no_host_process(bool claimsBooted)
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        var uid = int.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
        var gid = int.Parse(RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
        using var folder = new TemporaryFolder("forged-boot");
        var root = Path.Combine(folder.Path, "store");
        Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, (UnixFileMode)0b111_000_000);
        RunAsRoot.Command("chown", $"{uid}:{gid}", root);
        using var engine = new RemoteHarness(asRoot: true, sharedStore: root, environment: new Dictionary<string, string>
        {
            ["SUDO_UID"] = uid.ToString(CultureInfo.InvariantCulture), ["SUDO_GID"] = gid.ToString(CultureInfo.InvariantCulture),
            ["SUDO_USER"] = UnprivilegedUser.Name,
        });
        engine.Import("first", BusyboxTree.Create(Path.Combine(folder.Path, "first")));
        var sandbox = engine.Create(new SandboxCreateOptions { Image = "first", Provider = ProviderName.Nspawn });
        var marker = $"/tmp/forged-boot-{Guid.NewGuid():N}";
        // Root's process in a user namespace of its own, as any container's or another machine's init is
        // (nsenter cannot join the user namespace it is already in, which is pid 1's).
        using var victim = Process.Start(new ProcessStartInfo("unshare", "--user -- sleep 600") { UseShellExecute = false })!;
        try
        {
            Assert.True(Poll.Until(() => File.ReadAllText($"/proc/{victim.Id}/comm") == "sleep\n", TimeSpan.FromSeconds(10)), "the victim did not start");
            File.WriteAllText($"/proc/{victim.Id}/uid_map", "0 0 65536\n");
            File.WriteAllText($"/proc/{victim.Id}/gid_map", "0 0 65536\n");
            var target = ProcessIdentity.Of(victim.Id)!.Value;
            var record = JsonSerializer.Serialize(new Dictionary<string, ulong>
            {
                ["nspawnPid"] = (ulong)target.Pid, ["nspawnStart"] = target.StartTicks,
                ["leaderPid"] = (ulong)target.Pid, ["leaderStart"] = target.StartTicks,
            });
            var state = ((ISandboxHarness)engine).StateFolder(sandbox.Id);
            RunAsRoot.Command("setpriv", $"--reuid={uid}", $"--regid={gid}", "--clear-groups", "--",
                "sh", "-c", "printf %s \"$1\" > \"$2\"/boot.json; [ -z \"$3\" ] || sed -i 's/\"Boot\": false/\"Boot\": true/' \"$2\"/state.json",
                "forge", record, state, claimsBooted ? "booted" : "");

            SandboxCommandResult? result = null;
            var outcome = Record.Exception(() => result = engine.Invoke(sandbox.Id, new SandboxCommand
            {
                Argv = new[] { "touch", marker }, Timeout = TimeSpan.FromSeconds(120),
            }));
            var removal = Record.Exception(() => engine.Remove(sandbox.Id));
            Thread.Sleep(200); // a signal sent is delivered by now

            Assert.False(File.Exists(marker), "the command ran on the host, in the namespaces of the process the forged record named");
            Assert.False(victim.HasExited, "removing the sandbox killed the process the forged record named");
            Assert.Null(removal);
            if (claimsBooted)
            {
                // A sandbox that says it is booted but has no machine of root's record: no machine to enter.
                Assert.Equal("MachineNotRunning", Assert.IsType<SandboxException>(outcome).ErrorId);
            }
            else
            {
                // The command ran as any plain Nspawn command does, in its own container (not through nsenter).
                Assert.Null(outcome);
                Assert.True(result!.ExitCode == 0, $"the command did not run in the sandbox: {result.StdErr}");
            }
        }
        finally
        {
            if (!victim.HasExited) victim.Kill();
            File.Delete(marker);
        }
    }
}
