namespace Sandbox.Bench;

/// <summary>Collects measurements in sections and prints medians, ratios and the goals.</summary>
public sealed class Report
{
    private readonly List<(string Section, Measurement Measurement, Measurement? Baseline)> _rows = new();
    private readonly List<string> _notes = new();

    public void Add(string section, Measurement measurement, Measurement? baseline = null) =>
        _rows.Add((section, measurement, baseline));

    public void Note(string note) => _notes.Add(note);

    public void Print()
    {
        foreach (var section in _rows.GroupBy(r => r.Section))
        {
            Console.WriteLine();
            Console.WriteLine($"== {section.Key}");
            Console.WriteLine($"{"scenario",-50} {"median",11} {"min",11} {"max",11} {"ratio",9}  baseline");
            foreach (var (_, m, baseline) in section)
                Console.WriteLine($"{m.Name,-50} {Ms(m.Median),11} {Ms(m.Min),11} {Ms(m.Max),11} {(baseline is null ? "" : Ratio(m, baseline)),9}  {baseline?.Name}");
        }
        Console.WriteLine();
        foreach (var note in _notes) Console.WriteLine(note);
    }

    public static string Ratio(Measurement a, Measurement b) => $"{a.Median.TotalMilliseconds / b.Median.TotalMilliseconds:F2}x";

    private static string Ms(TimeSpan t) => t.TotalSeconds >= 10 ? $"{t.TotalSeconds:F1} s" : $"{t.TotalMilliseconds:F1} ms";
}
