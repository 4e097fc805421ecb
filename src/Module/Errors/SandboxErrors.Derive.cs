namespace Sandbox;

/// <summary>Errors of deriving an image by running a step (New-SandboxImage -From -Run/-Script).</summary>
public static partial class SandboxErrors
{
    /// <summary>The step exited non-zero (or by a signal): nothing was published. Quotes the end of its stderr, neutered as -Check does.</summary>
    public static SandboxException DeriveStepFailed(string image, string step, int? exitCode, string? signal, string? stdErr)
    {
        var how = signal is not null ? $"was killed by {signal}" : $"exited with code {exitCode?.ToString() ?? "none"}";
        var tail = StdErrTail(stdErr);
        return new SandboxException("DeriveStepFailed", SandboxErrorKind.InvalidOperation,
            $"The step of image '{image}' ({StdErrTail(step)}) {how}; no image was published." +
            (tail.Length > 0 ? $" The end of its stderr:\n{tail}\n" : ""),
            "Fix the step (try it in Enter-Sandbox -Image <parent> first); add -Verbose to see its output line by line.", image);
    }

    /// <summary>The provider cannot turn a step's writes into a layer (FakeChroot keeps a private copy and faked's owners).</summary>
    public static SandboxException DeriveProviderUnsupported(string provider, string reason) => new(
        "DeriveProviderUnsupported", SandboxErrorKind.InvalidOperation,
        $"Images cannot be derived with the {provider} provider: {reason}",
        "Derive with -Provider Bubblewrap (rootless works too) or Nspawn; the derived image can then be used by every provider.", provider);

    /// <summary>-Script names no readable regular file, or one too large to be a provisioning script.</summary>
    public static SandboxException DeriveScriptUnusable(string path, string reason) => new(
        "DeriveScriptUnusable", SandboxErrorKind.InvalidArgument,
        $"The script '{path}' cannot be used as a step: {reason}",
        "Give -Script a regular host file of at most 16 MiB (copy large payloads in with a -ReadOnlyBind folder instead).", path);

    /// <summary>-From names an image of an older version: one folder, no content id to stand on.</summary>
    public static SandboxException DeriveParentHasNoLayers(string parent) => new(
        "DeriveParentHasNoLayers", SandboxErrorKind.InvalidOperation,
        $"Image '{parent}' was made by an older version (one folder, no layers), so no image can be derived from it.",
        $"Rebuild it with New-SandboxImage -Name {parent} ... -Force, then derive again.", parent);

    /// <summary>-From needs exactly one step: -Run's words or -Script's file.</summary>
    public static SandboxException DeriveNeedsOneStep(string image) => new(
        "DeriveNeedsOneStep", SandboxErrorKind.InvalidArgument,
        $"Image '{image}' needs exactly one step after -From: the words of a command (-Run) or a host script (-Script), not both and not neither.",
        "Give -Run apt-get,install,-y,jq (or the words after -From: New-SandboxImage app -From bookworm -- apt-get install -y jq), or -Script ./provision.sh.", image);
}
