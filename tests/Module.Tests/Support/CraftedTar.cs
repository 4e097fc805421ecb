using System.Text;

namespace Sandbox.Tests.Support;

/// <summary>
/// Tar headers written byte by byte, as a hostile tar would: sizes no honest archive announces
/// (GNU base-256 for more than 8 GiB), and metadata entries (GNU long names) of any size.
/// </summary>
public static class CraftedTar
{
    public const int BlockSize = 512;

    /// <summary>A ustar header for <paramref name="name"/> of type <paramref name="type"/> announcing <paramref name="size"/> bytes.</summary>
    public static byte[] Header(string name, long size, char type = '0')
    {
        var header = new byte[BlockSize];
        Encoding.ASCII.GetBytes(name).CopyTo(header, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(header, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(header, 116);
        if (size < 1L << 33)
            Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(header, 124);
        else
        {
            // GNU base-256: the high bit of the first byte set, the number big-endian in the rest.
            header[124] = 0x80;
            for (var i = 0; i < 8; i++) header[135 - i] = (byte)(size >> (8 * i));
        }
        Encoding.ASCII.GetBytes("00000000000\0").CopyTo(header, 136);
        header[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0").CopyTo(header, 257);
        Encoding.ASCII.GetBytes("00").CopyTo(header, 263);
        for (var i = 148; i < 156; i++) header[i] = (byte)' ';
        var sum = header.Sum(b => (int)b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header, 148);
        return header;
    }

    /// <summary>
    /// A pax extended header ('x') holding <paramref name="records"/> as raw bytes (so a value may
    /// hold a NUL, as a hostile tar may write), padded to whole blocks: put the entry's header after it.
    /// </summary>
    public static byte[] Pax(params (string Key, string Value)[] records)
    {
        var data = new List<byte>();
        foreach (var (key, value) in records)
        {
            var body = Encoding.UTF8.GetBytes($" {key}={value}\n");
            // The length counts its own digits: grow it until it does.
            var length = body.Length + 1;
            while (length.ToString().Length + body.Length != length) length++;
            data.AddRange(Encoding.ASCII.GetBytes(length.ToString()));
            data.AddRange(body);
        }
        return Header("PaxHeaders/entry", data.Count, 'x').Concat(data).Concat(new byte[Padding(data.Count)]).ToArray();
    }

    /// <summary>The end of an archive: two zero blocks.</summary>
    public static byte[] End() => new byte[2 * BlockSize];

    private static int Padding(int size) => (BlockSize - size % BlockSize) % BlockSize;
}
