using System.Security.Cryptography;
using System.Text;
using Sandbox.Native;
using Sandbox.Storage;

namespace Sandbox.Sandboxes;

/// <summary>
/// Which sandbox holds a name, without reading every sandbox's state: <c>names/KEY</c> (KEY: the
/// first 32 hex digits of the name's SHA-256) holds the id of the sandbox that claimed the name.
/// Checking a name then costs two small reads however many sandboxes the store holds (reading them
/// all made each Enter cost about 0.2 ms more per sandbox kept, under the store-wide names lock that
/// parallel Enters queue on).
/// A claim is a hint, checked against the named sandbox's own state.json: one whose sandbox is gone
/// or now has another name (a removal that died before releasing it) leaves the name free. A claim is
/// made under the names lock before the state folder, so every sandbox made since claims have existed
/// has one; a store from before (no <c>names/</c>) is claimed in full once, under the same lock, in a
/// folder of its own renamed into place when complete (a claiming that dies half-way leaves none).
/// Written through descriptors reached from the store root without links (<see cref="StateFolder"/>):
/// under sudo the store is the calling user's, who could swap the folder for a link into one of root's.
/// </summary>
internal sealed class SandboxNames
{
    public const string FolderName = "names";
    private const string StagingName = "names-new";
    private const int IdLength = 12;

    private readonly StoreLayout _layout;
    private readonly Func<string, SandboxInfo?> _loadById;
    private readonly Func<IEnumerable<SandboxInfo>> _listAll;

    public SandboxNames(StoreLayout layout, Func<string, SandboxInfo?> loadById, Func<IEnumerable<SandboxInfo>> listAll)
    {
        _layout = layout;
        _loadById = loadById;
        _listAll = listAll;
    }

    public string Folder => Path.Combine(_layout.Root, FolderName);

    /// <summary>The claim file's name for <paramref name="name"/> (any text; never a path).</summary>
    internal static string KeyOf(string name) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..32].ToLowerInvariant();

    /// <summary>True when a sandbox of the store has this name. Call with the names lock held.</summary>
    public bool IsTaken(string name)
    {
        if (!Directory.Exists(Folder)) ClaimExisting();
        var bytes = UntrustedFile.ReadRegular(Path.Combine(Folder, KeyOf(name)), IdLength);
        if (bytes is not { Length: IdLength }) return false;
        var id = Encoding.ASCII.GetString(bytes);
        return id.All(char.IsAsciiHexDigitLower) && _loadById(id) is { } holder && holder.Name == name && holder.Id == id;
    }

    /// <summary>Records that sandbox <paramref name="id"/> holds <paramref name="name"/>. Call with the names lock held.</summary>
    public void Claim(string name, string id)
    {
        if (id.Length != IdLength || !id.All(char.IsAsciiHexDigitLower)) throw new ArgumentException($"'{id}' is not a sandbox id.", nameof(id));
        PrivateFiles.EnsureFolder(Folder);
        WithFolder(Folder, folder => Write(folder, name, id));
    }

    private void Write(int folder, string name, string id)
    {
        var key = KeyOf(name);
        var file = StateFolder.OpenOwnFile(folder, key, sudoCallersToo: true);
        if (file < 0)
        {
            // Not a plain file of ours (a link, a FIFO, a hard link planted there): replaced.
            OpenAt2.unlinkat(folder, key, 0);
            file = StateFolder.OpenOwnFile(folder, key, sudoCallersToo: true);
        }
        if (file < 0) throw new IOException($"The claim of sandbox name '{name}' ({Path.Combine(Folder, key)}) could not be written.");
        try { StateFolder.WriteWhole(file, Encoding.ASCII.GetBytes(id), $"the claim of sandbox name '{name}'"); }
        finally { OpenAt2.close(file); }
    }

    /// <summary>
    /// Drops the claim of <paramref name="name"/> if it is still sandbox <paramref name="id"/>'s. Call with
    /// the names lock held: a creation may claim the name anew as soon as the sandbox's state is gone.
    /// </summary>
    public void Release(string name, string id)
    {
        if (!Directory.Exists(Folder)) return;
        var key = KeyOf(name);
        if (UntrustedFile.ReadRegular(Path.Combine(Folder, key), IdLength) is not { } bytes || Encoding.ASCII.GetString(bytes) != id) return;
        WithFolder(Folder, folder => OpenAt2.unlinkat(folder, key, 0));
    }

    /// <summary>A store made before claims existed: every sandbox it holds claims its name.</summary>
    private void ClaimExisting()
    {
        var staging = Path.Combine(_layout.Root, StagingName);
        if (Path.Exists(staging)) SafeTreeRemover.Remove(staging, _layout.Root); // a claiming that died
        PrivateFiles.EnsureFolder(staging);
        WithFolder(staging, folder =>
        {
            foreach (var sandbox in _listAll()) Write(folder, sandbox.Name, sandbox.Id);
        });
        Directory.Move(staging, Folder);
    }

    private void WithFolder(string path, Action<int> use)
    {
        var folder = StateFolder.Open(_layout.Root, path);
        if (folder < 0) throw new IOException($"{path} is not a folder of the store {_layout.Root} reached without links.");
        try { use(folder); }
        finally { OpenAt2.close(folder); }
    }
}
