namespace Sandbox;

/// <summary>
/// The catalogue of the engine's errors, one factory per error id, so ids and wording stay consistent
/// and a reader can see every failure the module can report in one place.
/// </summary>
public static partial class SandboxErrors
{
    public static SandboxException InvalidName(string what, string? name) => new(
        "InvalidName", SandboxErrorKind.InvalidArgument,
        $"'{name}' is not a valid {what} name.",
        "Use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (no '/', no '..').", name);

    /// <summary>
    /// -User names nobody in the image's /etc/passwd. Nspawn needs a name there (it takes no bare uid);
    /// the other providers also take a numeric uid, so the fix differs.
    /// </summary>
    public static SandboxException UserNotFound(string user, bool numericUidAllowed) => new(
        "UserNotFound", SandboxErrorKind.ObjectNotFound,
        numericUidAllowed
            ? $"There is no user '{user}' in the image's /etc/passwd."
            : $"The Nspawn provider can only run as a user of the image's /etc/passwd, and '{user}' is not one.",
        numericUidAllowed
            ? "Give a numeric uid, or create the user in the sandbox first (useradd)."
            : "Create the user in the sandbox first (useradd), or use -Provider Bubblewrap, which takes any numeric uid.",
        user);

    public static SandboxException ImageNotFound(string name) => new(
        "ImageNotFound", SandboxErrorKind.ObjectNotFound,
        $"There is no image named '{name}'.",
        "Create it with New-SandboxImage, or list the images with Get-SandboxImage.", name);

    public static SandboxException ImageExists(string name) => new(
        "ImageExists", SandboxErrorKind.ResourceBusy,
        $"An image named '{name}' already exists with other build parameters.",
        "Add -Force to rebuild it, or choose another -Name.", name);

    public static SandboxException ImageSourceNotFound(string path) => new(
        "ImageSourceNotFound", SandboxErrorKind.ObjectNotFound,
        $"The image source '{path}' does not exist.",
        "Give -Path an existing root filesystem folder or a .tar, .tar.gz or .tar.zst file.", path);

    public static SandboxException ImageBuildFailed(string name, string tool, int? exitCode, string detail) => new(
        "ImageBuildFailed", SandboxErrorKind.InvalidOperation,
        $"Building image '{name}' with {tool} failed (exit code {exitCode?.ToString() ?? "none"}): {Tail(detail)}",
        "Run the command shown with -Verbose by hand to see the whole log; check -Suite and -Mirror.", name);

    public static SandboxException SandboxNotFound(string nameOrId) => new(
        "SandboxNotFound", SandboxErrorKind.ObjectNotFound,
        $"There is no sandbox named or with id '{nameOrId}'.",
        "List the sandboxes with Get-Sandbox.", nameOrId);

    public static SandboxException SandboxNameTaken(string name) => new(
        "SandboxNameTaken", SandboxErrorKind.ResourceBusy,
        $"A sandbox named '{name}' already exists.",
        "Choose another -Name, or remove that sandbox with Remove-Sandbox.", name);

    public static SandboxException ToolNotInstalled(string tool, string package) => new(
        "ToolNotInstalled", SandboxErrorKind.NotInstalled,
        $"'{tool}' is not installed or not on PATH.",
        $"Install it: apt-get install {package}", tool);

    public static SandboxException ProviderUnavailable(string provider, string reason, string? fix) => new(
        "ProviderUnavailable", SandboxErrorKind.NotInstalled,
        $"The {provider} provider cannot run here: {reason}", fix, provider);

    public static SandboxException NoProviderAvailable(string reasons) => new(
        "NoProviderAvailable", SandboxErrorKind.NotInstalled,
        $"No sandbox provider can run here. {reasons}",
        "See Get-SandboxProvider for what each provider needs.");

    public static SandboxException InvalidBind(string spec, string problem) => new(
        "InvalidBind", SandboxErrorKind.InvalidArgument,
        $"Bind '{spec}' is not valid: {problem}",
        "Write a bind as '/absolute/host/path' or '/absolute/host/path:/absolute/sandbox/path'; the host path must exist.", spec);

    public static SandboxException InvalidPath(string parameter, string? path, string problem) => new(
        "InvalidPath", SandboxErrorKind.InvalidArgument,
        $"{parameter} '{path}' is not valid: {problem}",
        "Give an absolute path without '..' segments.", path);

    public static SandboxException InvalidEnvironment(string name) => new(
        "InvalidEnvironmentVariable", SandboxErrorKind.InvalidArgument,
        $"'{name}' is not a valid environment variable name.",
        "Use letters, digits and '_', not starting with a digit.", name);

    public static SandboxException EmptyCommand() => new(
        "EmptyCommand", SandboxErrorKind.InvalidArgument,
        "No command was given.",
        "Pass the program and its arguments as an array, e.g. -Command 'sh','-c','echo hi'.");

    public static SandboxException CommandNotFound(string command, string detail) => new(
        "CommandNotFound", SandboxErrorKind.ObjectNotFound,
        $"The command '{command}' could not be started inside the sandbox: {detail}.",
        "Check the spelling, give the full path inside the image, or install the program into the image.", command);

    public static SandboxException SetupFailed(string provider, string sandbox, string detail) => new(
        "SandboxSetupFailed", SandboxErrorKind.SetupFailure,
        $"The {provider} sandbox '{sandbox}' could not be set up: {Tail(detail)}",
        "Run with -Verbose to see the backend command line; check Get-SandboxProvider.", sandbox);

    public static SandboxException CommandFailed(string command, int? exitCode, string? signal) => new(
        "CommandFailed", SandboxErrorKind.InvalidOperation,
        signal is null
            ? $"The command '{command}' exited with code {exitCode}."
            : $"The command '{command}' was killed by signal {signal}.",
        "Look at the result's StdErr; drop -Check to get the result object instead of an error.", command);

    public static SandboxException StoreUnsafe(string path, string problem) => new(
        "UnsafeRemoval", SandboxErrorKind.PermissionDenied,
        $"Refusing to delete '{path}': {problem}",
        "Unmount what is mounted there, or remove it by hand after checking it.", path);

    public static SandboxException NotSupported(string provider, string feature) => new(
        "NotSupportedByProvider", SandboxErrorKind.InvalidArgument,
        $"The {provider} provider does not support {feature}.",
        "Choose another -Provider (see Get-SandboxProvider).", provider);

    private static string Tail(string text)
    {
        var trimmed = text.Trim();
        return trimmed.Length <= 600 ? trimmed : "..." + trimmed[^600..];
    }
}
