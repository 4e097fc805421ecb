namespace Sandbox;

/// <summary>Errors of the provider contract: command lines and backend failures.</summary>
public static partial class SandboxErrors
{
    /// <summary>nspawn resolves -User by name inside the image; a bare uid the image does not list cannot be passed.</summary>
    internal static SandboxException NspawnUserNotInImage(uint uid) => new(
        "UserNotFound", SandboxErrorKind.ObjectNotFound,
        $"The Nspawn provider can only run as a user of the image's /etc/passwd, and '{uid}' is not one.",
        "Create the user in the sandbox first (useradd), or use -Provider Bubblewrap, which takes any numeric uid.", uid.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
