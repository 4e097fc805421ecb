namespace Sandbox.Storage;

/// <summary>
/// How much a copy out of a sandbox accepts from the sandbox's tar stream before it stops: bytes
/// read from the stream (headers, skipped entries and padding included) and bytes written to files,
/// each at most <see cref="MaxBytes"/>; and at most <see cref="MaxEntries"/> entries. A stream is
/// hostile input: without a bound it could fill the host's disk or run for ever.
/// </summary>
internal sealed record CopyOutLimits(long MaxBytes, long MaxEntries, string BytesOrigin = "the bound set for this copy")
{
    /// <summary>The default bound on entries: a million files is a big tree, not an attack yet.</summary>
    public const long DefaultMaxEntries = 1_000_000;

    /// <summary>Left free on the destination's file system by the default byte bound.</summary>
    public const long FreeSpaceMargin = 64L * 1024 * 1024;

    /// <summary>
    /// Zero bytes accepted after the archive's end marker: tar pads its last record (10 KiB by
    /// default, more with -b); more than this, or anything not zero, is not tar's padding.
    /// </summary>
    public const long MaxTrailingBytes = 1024 * 1024;

    /// <summary>The defaults for a copy into <paramref name="destinationFolder"/>: its file system's free space (for the caller) minus a margin.</summary>
    public static CopyOutLimits For(string destinationFolder)
    {
        long free;
        try { free = new DriveInfo(destinationFolder).AvailableFreeSpace; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { free = 0; }
        return new CopyOutLimits(Math.Max(0, free - FreeSpaceMargin), DefaultMaxEntries,
            $"the destination's free space less {FreeSpaceMargin / (1024 * 1024)} MiB");
    }

    /// <summary>The byte bound as a person reads it.</summary>
    public string DescribeBytes() => $"{MaxBytes} bytes ({BytesOrigin})";
}
