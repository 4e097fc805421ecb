using System.Collections;
using System.Management.Automation;
using Sandbox.Commands.Infrastructure;

namespace Sandbox.Commands;

/// <summary>
/// Makes a new copy-on-write sandbox from an image and returns it; with -Shell opens an interactive
/// shell in it on this terminal and removes it when the shell exits (unless -Keep). With -Sandbox,
/// opens a shell in an existing sandbox.
/// </summary>
[Cmdlet(VerbsCommon.Enter, "Sandbox", DefaultParameterSetName = ImageSet)]
[OutputType(typeof(SandboxInfo))]
public sealed class EnterSandboxCommand : SandboxCmdlet
{
    private const string ImageSet = "Image";
    private const string SandboxSet = "Sandbox";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ImageSet, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(ImageNameCompleter))]
    [ImageNameTransformation]
    public string Image { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = SandboxSet, ValueFromPipeline = true)]
    [ArgumentCompleter(typeof(SandboxNameCompleter))]
    [SandboxTransformation]
    public SandboxInfo? Sandbox { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public ProviderName Provider { get; set; } = ProviderName.Auto;

    [Parameter(ParameterSetName = ImageSet)]
    public string? Name { get; set; }

    /// <summary>Host folders to share read-write: '/host/path' or '/host/path:/sandbox/path'.</summary>
    [Parameter(ParameterSetName = ImageSet)]
    public string[]? Bind { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public string[]? ReadOnlyBind { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public NetworkMode Network { get; set; } = NetworkMode.None;

    [Parameter(ParameterSetName = ImageSet)]
    public Hashtable? Environment { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public SwitchParameter Shell { get; set; }

    /// <summary>Boot the image's init (Nspawn; the image needs systemd, e.g. -Include systemd,dbus).</summary>
    [Parameter(ParameterSetName = ImageSet)]
    public SwitchParameter Boot { get; set; }

    [Parameter(ParameterSetName = ImageSet)]
    public SwitchParameter Keep { get; set; }

    /// <summary>Every command sees / read-only (EROFS) except -WritablePath folders, -Bind targets, /dev, /proc and /run.</summary>
    [Parameter(ParameterSetName = ImageSet)]
    public SwitchParameter ReadOnlyRoot { get; set; }

    /// <summary>In-sandbox folders left writable under -ReadOnlyRoot (made in the sandbox's layer if missing).</summary>
    [Parameter(ParameterSetName = ImageSet)]
    public string[]? WritablePath { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == SandboxSet)
        {
            Try(() => RunShell(Sandbox!));
            return;
        }

        var sandbox = OrThrow(() => Engine.CreateSandbox(new SandboxCreateOptions
        {
            Image = Image,
            Provider = Provider,
            Name = Name,
            Mounts = Parameters.Mounts(Bind, ReadOnlyBind),
            Network = MyInvocation.BoundParameters.ContainsKey(nameof(Network)) ? Network : null, // unset: the provider's default
            Environment = Parameters.Environment(Environment),
            Keep = Keep,
            Boot = Boot,
            ReadOnlyRoot = ReadOnlyRoot,
            WritablePaths = WritablePath ?? Array.Empty<string>(),
        }));
        if (!Shell)
        {
            WriteObject(sandbox);
            return;
        }

        try
        {
            Try(() => RunShell(sandbox));
        }
        finally
        {
            if (Keep) WriteObject(sandbox);
            else Try(() => Engine.RemoveSandbox(sandbox));
        }
    }

    /// <summary>
    /// The shell's exit code becomes $LASTEXITCODE, as a native command's does, so `exit 3` in the
    /// sandbox reads back as 3 (a script can tell how the session ended).
    /// </summary>
    private void RunShell(SandboxInfo sandbox)
    {
        var exitCode = Engine.RunShell(sandbox);
        SessionState.PSVariable.Set("global:LASTEXITCODE", exitCode);
    }
}
