using System.Globalization;
using Sandbox.Native;

namespace Sandbox.Processes;

/// <summary>
/// The backend processes of a sandbox's running commands, one empty file per command in the
/// sandbox's <c>running/</c> folder, named after the process's kernel identity (pid and start
/// time): written the moment the backend is spawned, deleted when it has been reaped. Removal kills
/// these trees, so it finds a sandbox's processes by what they are, never by text a process (or an
/// unrelated host process) could show. With Bubblewrap and Nspawn every command has its own pid
/// namespace below its backend, so the tree holds every process the command started, however it
/// forked.
/// </summary>
internal static class RunningCommands
{
    private static readonly AsyncLocal<string?> Target = new();

    public static string Folder(SandboxInfo sandbox) => Path.Combine(sandbox.StatePath, "running");

    /// <summary>
    /// Until disposed, each backend this thread's flow spawns through <see cref="Started"/> is
    /// recorded for <paramref name="sandbox"/>. Providers need not know: the engine opens the scope
    /// around a provider's Run, and BackendProcess reports the spawned pid.
    /// </summary>
    public static IDisposable Track(SandboxInfo sandbox)
    {
        var previous = Target.Value;
        // Never recreate the state folder of a sandbox removed meanwhile (a command that waited in
        // the queue while another session removed it): that would leave a stray folder behind.
        if (!Directory.Exists(sandbox.StatePath)) throw SandboxErrors.SandboxNotFound(sandbox.Name);
        Target.Value = Folder(sandbox);
        return new Scope(() => Target.Value = previous);
    }

    /// <summary>Records a just-spawned backend; returns what removes the record once it was reaped.</summary>
    public static IDisposable Started(int pid)
    {
        if (Target.Value is not { } folder || ProcessIdentity.Of(pid) is not { } process) return new Scope(() => { });
        var record = Path.Combine(folder, $"{process.Pid}-{process.StartTicks.ToString(CultureInfo.InvariantCulture)}");
        // Made with the sandbox; here only for sandboxes made by an older version, and by mkdir
        // alone: never recreates the state folder of a sandbox removed meanwhile.
        if (OpenAt2.mkdirat(-100 /* AT_FDCWD */, folder, 0b111_000_000) != 0
            && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != 17 /* EEXIST */)
            return new Scope(() => { });
        try { File.WriteAllBytes(record, Array.Empty<byte>()); }
        catch (IOException) { return new Scope(() => { }); } // the sandbox is being removed under us
        catch (UnauthorizedAccessException) { return new Scope(() => { }); }
        return new Scope(() => File.Delete(record));
    }

    /// <summary>
    /// The recorded backends of <paramref name="sandbox"/> that still run (same pid, same start
    /// time). Only records this user wrote count: under sudo the state folder belongs to the
    /// calling user, who must not make root kill a process of their choosing by planting a file.
    /// </summary>
    public static IReadOnlyList<ProcessIdentity> Of(SandboxInfo sandbox)
    {
        var folder = Folder(sandbox);
        if (!Directory.Exists(folder)) return Array.Empty<ProcessIdentity>();
        var found = new List<ProcessIdentity>();
        foreach (var name in Directory.EnumerateFiles(folder).Select(Path.GetFileName))
        {
            var parts = name!.Split('-');
            if (FileStatus.Of(Path.Combine(folder, name)) is not { IsRegularFile: true } status
                || status.Uid != UserIdentity.EffectiveUid) continue;
            if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                && new ProcessIdentity(pid, ticks) is { IsAlive: true } process)
                found.Add(process);
        }
        return found;
    }

    private sealed class Scope(Action end) : IDisposable
    {
        private Action? _end = end;

        public void Dispose()
        {
            Interlocked.Exchange(ref _end, null)?.Invoke();
        }
    }
}
