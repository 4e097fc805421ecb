namespace Sandbox.Tracing;

/// <summary>
/// Gathers strace's lines as they arrive into whole calls and exits, within fixed bounds: at most
/// <see cref="MaxRecords"/> records and <see cref="MaxPending"/> calls waiting for their second half.
/// What is past a bound, or not parseable, is counted, never kept: a trace is marked truncated
/// rather than silently incomplete.
/// </summary>
internal sealed class TraceCollector
{
    public const int MaxRecords = 250_000;
    public const int MaxPending = 4096;

    /// <summary>Characters of line text kept in all (each record holds its line's strings): 32 M.</summary>
    public const long MaxKeptCharacters = 32L * 1024 * 1024;

    private long _keptCharacters;

    private readonly List<StraceLine> _records = new();
    private readonly Dictionary<int, StraceUnfinished> _pending = new();

    public IReadOnlyList<StraceLine> Records => _records;

    /// <summary>Records not kept: over a bound, refused by the parser, or cut by the line limit.</summary>
    public long Dropped { get; private set; }

    /// <summary>Lines the parser refused (a subset of <see cref="Dropped"/>), for the log.</summary>
    public long Unparsed { get; private set; }

    public void Add(string line)
    {
        if (_keptCharacters + line.Length > MaxKeptCharacters) { Dropped++; return; }
        _keptCharacters += line.Length;
        switch (StraceLineParser.Parse(line))
        {
            case null:
                Unparsed++;
                Dropped++;
                return;
            case StraceSignal:
                return;
            case StraceUnfinished head:
                if (_pending.Count >= MaxPending && !_pending.ContainsKey(head.Pid)) { Dropped++; return; }
                _pending[head.Pid] = head;
                return;
            case StraceResumed tail:
                if (!_pending.Remove(tail.Pid, out var first) || StraceLineParser.Join(first, tail) is not { } joined)
                {
                    Unparsed++;
                    Dropped++;
                    return;
                }
                Keep(joined);
                return;
            case var whole:
                // A process that exits inside a call (exit_group, a kill) leaves its first half behind.
                if (whole is StraceExit) _pending.Remove(whole.Pid);
                Keep(whole);
                return;
        }
    }

    /// <summary>A line longer than the reader's limit: its bytes were skipped, the record is counted.</summary>
    public void AddOverlong() => Dropped++;

    private void Keep(StraceLine record)
    {
        if (_records.Count >= MaxRecords) { Dropped++; return; }
        _records.Add(record);
    }
}
