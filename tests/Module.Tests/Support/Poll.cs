namespace Sandbox.Tests.Support;

/// <summary>Waits for something that happens asynchronously (a process starting or dying, a screen updating).</summary>
public static class Poll
{
    /// <summary>True as soon as <paramref name="condition"/> holds; false if it still does not after <paramref name="timeout"/>.</summary>
    public static bool Until(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (condition()) return true;
            if (DateTime.UtcNow > deadline) return false;
            Thread.Sleep(50);
        }
    }
}
