using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;
using System.Text;

namespace Sandbox.PowerShell.Tests.Support;

/// <summary>
/// A PowerShell host without a terminal: what the formatter writes (Out-Host, Out-Default) is kept
/// as text, so the Format.ps1xml views can be checked as a user sees them, and any prompt (a
/// -Confirm, a mandatory parameter left out) fails the test instead of hanging CI.
/// </summary>
public sealed class RecordingHost : PSHost
{
    private readonly RecordingUserInterface _ui = new();

    public override CultureInfo CurrentCulture { get; } = CultureInfo.GetCultureInfo("en-US");
    public override CultureInfo CurrentUICulture { get; } = CultureInfo.GetCultureInfo("en-US");
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override string Name => "SandboxTestHost";
    public override Version Version { get; } = new(1, 0);
    public override PSHostUserInterface UI => _ui;

    /// <summary>
    /// Everything written to the host since the last call, as a terminal shows it: pwsh 7.2+
    /// colours table headers with escape sequences ($PSStyle), which are removed here.
    /// </summary>
    public string TakeText() => System.Text.RegularExpressions.Regex.Replace(_ui.Take(), "\x1b\\[[0-9;]*m", "");

    public override void EnterNestedPrompt() => throw new NotSupportedException("no nested prompts in tests");
    public override void ExitNestedPrompt() => throw new NotSupportedException("no nested prompts in tests");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
    public override void SetShouldExit(int exitCode) { }

    private sealed class RecordingUserInterface : PSHostUserInterface
    {
        private readonly StringBuilder _text = new();
        private readonly RecordingRawUserInterface _raw = new();

        public override PSHostRawUserInterface RawUI => _raw;

        public string Take()
        {
            lock (_text)
            {
                var text = _text.ToString();
                _text.Clear();
                return text;
            }
        }

        private void Append(string value)
        {
            lock (_text) _text.Append(value);
        }

        public override void Write(string value) => Append(value);
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => Append(value);
        public override void WriteLine(string value) => Append(value + "\n");
        public override void WriteErrorLine(string value) => Append(value + "\n");
        public override void WriteDebugLine(string message) => Append("DEBUG: " + message + "\n");
        public override void WriteVerboseLine(string message) => Append("VERBOSE: " + message + "\n");
        public override void WriteWarningLine(string message) => Append("WARNING: " + message + "\n");
        public override void WriteProgress(long sourceId, ProgressRecord record) { }

        public override string ReadLine() => throw Prompted("ReadLine");
        public override SecureString ReadLineAsSecureString() => throw Prompted("ReadLineAsSecureString");

        public override Dictionary<string, PSObject> Prompt(string caption, string message,
            System.Collections.ObjectModel.Collection<FieldDescription> descriptions) =>
            throw Prompted($"Prompt '{caption}' '{message}'");

        public override int PromptForChoice(string caption, string message,
            System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice) =>
            throw Prompted($"PromptForChoice '{caption}' '{message}'");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
            throw Prompted("PromptForCredential");

        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
            PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
            throw Prompted("PromptForCredential");

        private static Exception Prompted(string what) =>
            new InvalidOperationException($"The cmdlet prompted the user ({what}); a pipeline without a terminal would hang here.");
    }

    /// <summary>A 160-column screen, wide enough that table views are not truncated.</summary>
    private sealed class RecordingRawUserInterface : PSHostRawUserInterface
    {
        private static readonly Size Screen = new(160, 50);

        public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
        public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
        public override Size BufferSize { get => new(Screen.Width, 9999); set { } }
        public override Coordinates CursorPosition { get; set; }
        public override int CursorSize { get; set; }
        public override bool KeyAvailable => false;
        public override Size MaxPhysicalWindowSize => Screen;
        public override Size MaxWindowSize => Screen;
        public override Coordinates WindowPosition { get; set; }
        public override Size WindowSize { get => Screen; set { } }
        public override string WindowTitle { get; set; } = "";

        public override void FlushInputBuffer() { }
        public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
        public override KeyInfo ReadKey(ReadKeyOptions options) => throw new InvalidOperationException("The cmdlet waited for a key press.");
        public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
        public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
        public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
    }
}
