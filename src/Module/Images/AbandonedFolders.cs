using System.Globalization;
using System.Text.RegularExpressions;
using Sandbox.Native;
using Sandbox.Processes;
using Sandbox.Storage;

namespace Sandbox.Images;

/// <summary>
/// The hidden folders of the images folder: <c>.staging-NAME-PID-START-RANDOM</c> (a build or import
/// filling it) and <c>.trash-NAME-PID-START-RANDOM</c> (an image being deleted). Their name carries the
/// owner process (pid and start time), so once that process is dead anyone can tell the folder is
/// garbage, kill whatever still writes into it, and delete it. Folders of older versions
/// (<c>.staging-NAME-GUID</c>) have no owner: they are garbage whenever nobody holds NAME's lock.
/// </summary>
internal static partial class AbandonedFolders
{
    public static string NewName(string kind, string name)
    {
        var self = ProcessIdentity.Current;
        return string.Create(CultureInfo.InvariantCulture,
            $".{kind}-{name}-{self.Pid}-{self.StartTicks}-{Guid.NewGuid().ToString("N")[..8]}");
    }

    [GeneratedRegex(@"^\.(?<kind>staging|trash)-(?<name>.+)-(?<pid>\d+)-(?<start>\d+)-[0-9a-f]{8}$")]
    private static partial Regex Owned();

    [GeneratedRegex(@"^\.(?<kind>staging|trash)-(?<name>.+)-[0-9a-f]{32}$")]
    private static partial Regex Legacy();

    /// <summary>The image name a hidden folder belongs to, and whether its owner is known to be alive.</summary>
    public static (string Image, bool OwnerAlive)? Parse(string folderName)
    {
        if (Owned().Match(folderName) is { Success: true } owned)
        {
            var owner = new ProcessIdentity(
                int.Parse(owned.Groups["pid"].Value, CultureInfo.InvariantCulture),
                ulong.Parse(owned.Groups["start"].Value, CultureInfo.InvariantCulture));
            return (owned.Groups["name"].Value, owner.IsAlive);
        }
        if (Legacy().Match(folderName) is { Success: true } legacy) return (legacy.Groups["name"].Value, false);
        return null;
    }

    /// <summary>Hidden folders of <paramref name="image"/> (exactly that name) whose owner is dead.</summary>
    public static IEnumerable<string> Of(string imagesFolder, string image) =>
        All(imagesFolder).Where(found => found.Image == image).Select(found => found.Path);

    /// <summary>Every hidden folder whose owner is dead, with the image name it belongs to.</summary>
    public static IReadOnlyList<(string Path, string Image)> All(string imagesFolder)
    {
        if (!Directory.Exists(imagesFolder)) return Array.Empty<(string, string)>();
        return Directory.EnumerateDirectories(imagesFolder, ".*")
            .Select(path => (Path: path, Parsed: Parse(Path.GetFileName(path))))
            .Where(found => found.Parsed is { OwnerAlive: false } && NameRules.IsValid(found.Parsed.Value.Image))
            .Select(found => (found.Path, found.Parsed!.Value.Image))
            .ToList();
    }

    /// <summary>
    /// Kills every process still writing into the folder (a cp or tar whose owner was killed before
    /// it was tied to our life: it has the folder open or works in it), then deletes it.
    /// </summary>
    public static void Delete(string folder, string imagesFolder, IEngineLog log)
    {
        log.Verbose($"Removing the leftover of an interrupted build or removal: {folder}");
        var writers = FolderUsers.Of(folder);
        if (writers.Count > 0)
        {
            log.Verbose($"Killing {writers.Count} process(es) still writing into it: {string.Join(", ", writers)}");
            ProcessTree.KillTrees(writers);
            ProcessTree.WaitUntilExited(writers, TimeSpan.FromSeconds(10));
        }
        SafeTreeRemover.Remove(folder, imagesFolder);
    }

    /// <summary>
    /// A bash script given DIE: the parent-death prefix for each program of its pipelines. The
    /// prefix on the shell only reaches the shell; the programs it forks must ask for it themselves,
    /// or they outlive a killed engine and keep writing. Tool paths never hold quotes or spaces here.
    /// </summary>
    public static string WithDieVariable(string script) =>
        $"DIE='{string.Join(' ', DieWithUs())}'; " + script;

    /// <summary>
    /// The prefix that ties a copying tool's life to ours: the kernel SIGKILLs it when our process
    /// dies (PR_SET_PDEATHSIG), so a killed import leaves no cp or tar writing on.
    /// </summary>
    public static IReadOnlyList<string> DieWithUs() =>
        ToolLocator.Find("setpriv") is { } setpriv ? new[] { setpriv, "--pdeathsig", "KILL", "--" } : Array.Empty<string>();
}
