using System.Text.RegularExpressions;

namespace Sandbox.Storage;

/// <summary>
/// Names of images and sandboxes become folder names, so they are restricted to a safe alphabet:
/// no separators, no '..', nothing that a shell or an overlay option string would read specially.
/// </summary>
internal static partial class NameRules
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex SafeName();

    public static bool IsValid(string? name) => name is not null && SafeName().IsMatch(name) && !name.Contains("..");

    public static string RequireValid(string what, string? name) =>
        IsValid(name) ? name! : throw SandboxErrors.InvalidName(what, name);
}
