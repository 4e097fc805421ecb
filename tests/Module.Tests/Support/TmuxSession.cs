namespace Sandbox.Tests.Support;

/// <summary>
/// A detached tmux session running one shell command on a real pseudo-terminal, driven by sending
/// keys and reading the screen: how the interactive-shell tests play the user at a terminal.
/// </summary>
public sealed class TmuxSession : IDisposable
{
    private readonly string _name = $"sandbox-test-{Guid.NewGuid():N}"[..24];

    /// <summary>The window's size at start: 120 columns, 30 rows.</summary>
    public const int Columns = 120, Rows = 30;

    public TmuxSession(string shellCommand) =>
        RunAsRoot.Command("tmux", "new-session", "-d", "-s", _name, "-x", Columns.ToString(), "-y", Rows.ToString(), shellCommand);

    /// <summary>
    /// An interactive bash with job control on the terminal, as a user's login shell: after a
    /// program ends it takes the terminal back and runs whatever is in its input queue. No rc
    /// files, and no history file left behind.
    /// </summary>
    public static TmuxSession WithBash() => new("exec env HISTFILE= bash --norc --noprofile -i");

    public bool IsRunning
    {
        get
        {
            try { RunAsRoot.Command("tmux", "has-session", "-t", _name); return true; }
            catch (InvalidOperationException) { return false; }
        }
    }

    /// <summary>The visible screen, or why it could not be read (the session ended, say).</summary>
    public string Screen
    {
        get
        {
            try { return RunAsRoot.Command("tmux", "capture-pane", "-p", "-t", _name); }
            catch (InvalidOperationException e) { return e.Message; }
        }
    }

    /// <summary>Types <paramref name="keys"/> (tmux key names such as "Enter" or "C-d" included).</summary>
    public void SendKeys(params string[] keys) => RunAsRoot.Command("tmux", new[] { "send-keys", "-t", _name }.Concat(keys).ToArray());

    /// <summary>Resizes the window, as a user dragging the terminal's corner: the pane's terminal gets SIGWINCH.</summary>
    public void Resize(int columns, int rows) =>
        RunAsRoot.Command("tmux", "resize-window", "-t", _name, "-x", columns.ToString(), "-y", rows.ToString());

    /// <summary>True once the screen satisfies <paramref name="condition"/>; false after 30 s.</summary>
    public bool WaitForScreen(Func<string, bool> condition) => Poll.Until(() => condition(Screen), TimeSpan.FromSeconds(30));

    public void Dispose()
    {
        if (IsRunning) RunAsRoot.Command("tmux", "kill-session", "-t", _name);
    }
}
