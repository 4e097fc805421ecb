using System.Globalization;
using Xunit;

namespace Sandbox.Tests.Support;

/// <summary>
/// What root is handed under sudo: a store of the caller's (the unprivileged test user, whom root must
/// not trust), 0700 and theirs, in a temporary folder, with <see cref="Victims"/>, a folder of root's,
/// beside it for the caller's links to lead to. The caller's moves are made as the caller (setpriv to
/// their ids), so they can do only what the caller could. An engine as root under the caller's sudo
/// (<see cref="StartEngine"/>) is started only by the tests that need one: the others call the
/// engine's code in this process, as root, over the same store.
/// </summary>
public sealed class SudoCallersStore : IDisposable
{
    private readonly TemporaryFolder _folder;
    private RemoteHarness? _engine;

    private SudoCallersStore(TemporaryFolder folder, int uid, int gid)
    {
        _folder = folder;
        Uid = uid;
        Gid = gid;
    }

    public string Folder => _folder.Path;
    public string Root => Path.Combine(Folder, "store");
    public string Victims => Path.Combine(Folder, "victims");
    public int Uid { get; }
    public int Gid { get; }

    /// <summary>The engine <see cref="StartEngine"/> started.</summary>
    public RemoteHarness Engine => _engine ?? throw new InvalidOperationException("no engine: call StartEngine first");

    /// <summary>The store's root made (empty) and the victims' folder; skips the test when it does not run as root.</summary>
    public static SudoCallersStore Make(string purpose)
    {
        Skip.IfNot(UnprivilegedUser.CanCreate, UnprivilegedUser.SkipReason);
        UnprivilegedUser.Ensure();
        var uid = int.Parse(RunAsRoot.Command("id", "-u", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
        var gid = int.Parse(RunAsRoot.Command("id", "-g", UnprivilegedUser.Name).Trim(), CultureInfo.InvariantCulture);
        var store = new SudoCallersStore(new TemporaryFolder(purpose), uid, gid);
        try
        {
            Directory.CreateDirectory(store.Root);
            File.SetUnixFileMode(store.Root, (UnixFileMode)0b111_000_000);
            store.GiveToCaller(store.Root);
            Directory.CreateDirectory(store.Victims);
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>An EngineHost as root with SUDO_UID, SUDO_GID and SUDO_USER the caller's, over the store; stopped on Dispose.</summary>
    public RemoteHarness StartEngine()
    {
        if (_engine is not null) throw new InvalidOperationException("the engine is already started");
        _engine = new RemoteHarness(asRoot: true, sharedStore: Root, environment: new Dictionary<string, string>
        {
            ["SUDO_UID"] = Uid.ToString(CultureInfo.InvariantCulture), ["SUDO_GID"] = Gid.ToString(CultureInfo.InvariantCulture),
            ["SUDO_USER"] = UnprivilegedUser.Name,
        });
        return _engine;
    }

    /// <summary>Makes <paramref name="path"/> the caller's (with <paramref name="recursive"/>, all below it too; links themselves, never where they lead).</summary>
    public void GiveToCaller(string path, bool recursive = false) =>
        RunAsRoot.Command("chown", recursive ? "-hR" : "-h", $"{Uid}:{Gid}", path);

    /// <summary>Runs <paramref name="command"/> as the caller: their uid and gid, no other group.</summary>
    public void AsCaller(params string[] command) =>
        RunAsRoot.Command("setpriv", new[] { $"--reuid={Uid}", $"--regid={Gid}", "--clear-groups", "--" }.Concat(command).ToArray());

    /// <summary>
    /// The caller's move, as the caller: <paramref name="folder"/> (theirs to rename, in a folder of
    /// theirs) renamed to <c>folder-away</c> and a link to <paramref name="target"/> in its place.
    /// Disposing the result puts the folder back; a test that ends with the swap in place need not.
    /// </summary>
    public IDisposable SwapForLink(string folder, string target)
    {
        AsCaller("mv", "-T", folder, folder + "-away");
        AsCaller("ln", "-s", target, folder);
        return new Undo(() =>
        {
            AsCaller("rm", folder);
            AsCaller("mv", "-T", folder + "-away", folder);
        });
    }

    private sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    public void Dispose()
    {
        _engine?.Dispose();
        _folder.Dispose();
    }
}
