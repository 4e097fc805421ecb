using System.Diagnostics;

namespace Sandbox.Bench;

/// <summary>Times one scenario: a few warm-up runs, then N timed runs; reports the median.</summary>
public sealed record Measurement(string Name, TimeSpan Median, TimeSpan Min, TimeSpan Max, int Runs)
{
    /// <summary>Like <see cref="Take"/>, with untimed <paramref name="setup"/> before every run.</summary>
    public static Measurement TakeWithSetup(string name, int runs, Action setup, Action once)
    {
        var samples = new List<TimeSpan>();
        for (var i = 0; i < runs; i++)
        {
            setup();
            var stopwatch = Stopwatch.StartNew();
            once();
            samples.Add(stopwatch.Elapsed);
        }
        samples.Sort();
        return new Measurement(name, samples[samples.Count / 2], samples[0], samples[^1], runs);
    }

    public static Measurement Take(string name, int runs, Action once, bool warmUp = true)
    {
        for (var i = 0; warmUp && i < Math.Min(3, runs); i++) once();
        var samples = new List<TimeSpan>();
        for (var i = 0; i < runs; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            once();
            samples.Add(stopwatch.Elapsed);
        }
        samples.Sort();
        return new Measurement(name, samples[samples.Count / 2], samples[0], samples[^1], runs);
    }
}
