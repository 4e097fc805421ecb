namespace Sandbox.Storage;

/// <summary>
/// This process's umask, read without changing it: umask(2) can only be read by setting it, and
/// setting it for a moment would race with every other thread creating files. The kernel shows it
/// in /proc/self/status ("Umask:", in octal, since Linux 4.7).
/// </summary>
internal static class ProcessUmask
{
    /// <summary>When the kernel does not show it: the usual default, which withholds write from group and other.</summary>
    public const uint Fallback = 0x12; // 022

    public static uint Read()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("Umask:", StringComparison.Ordinal))
                    return Convert.ToUInt32(line["Umask:".Length..].Trim(), 8) & 0x1FF;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or OverflowException) { }
        return Fallback;
    }
}
