namespace Sandbox.Tests.Support;

/// <summary>
/// An engine log that runs a caller's swap when the engine logs a line holding <paramref name="marker"/>:
/// a deterministic moment after every check of a command (the overlay's mount, the backend's command line).
/// </summary>
public sealed class SwapOnLogLine(string marker, Action swap) : IEngineLog
{
    public void Verbose(string message)
    {
        if (message.Contains(marker, StringComparison.Ordinal)) swap();
    }

    public void Progress(string activity, string status, int? percent) { }
}
