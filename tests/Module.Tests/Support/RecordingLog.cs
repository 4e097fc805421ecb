using System.Collections.Concurrent;

namespace Sandbox.Tests.Support;

/// <summary>Keeps what the engine logs, to prove which backend commands it ran (or did not run).</summary>
public sealed class RecordingLog : IEngineLog
{
    public ConcurrentQueue<string> Lines { get; } = new();
    public ConcurrentQueue<string> ProgressStatuses { get; } = new();
    public event Action<string>? ProgressReported;

    public void Verbose(string message) => Lines.Enqueue(message);

    public void Progress(string activity, string status, int? percent)
    {
        ProgressStatuses.Enqueue(status);
        ProgressReported?.Invoke(status);
    }

    public int CommandsStartingWith(string tool) =>
        Lines.Count(line => line.StartsWith(tool, StringComparison.Ordinal) || line.Contains($"/{tool} ", StringComparison.Ordinal));
}
