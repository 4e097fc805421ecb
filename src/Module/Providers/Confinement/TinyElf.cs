using System.Text;

namespace Sandbox.Providers.Confinement;

/// <summary>
/// The smallest static x86-64 executables: one PT_LOAD segment holding the ELF header, the program
/// header and the code, entered at its first instruction, with no loader, no libc and no path. Our
/// helpers are written in it (<see cref="ConfineHelper"/>, <see cref="Processes.LaunchHelper"/>) so
/// that nothing they run can be swapped by a library or a file of the host or of a sandbox, and so
/// that an LD_PRELOAD in their environment (FakeChroot's) has nothing to load into.
/// </summary>
internal static class TinyElf
{
    public const ulong Base = 0x400000;
    public const int HeaderSize = 64 + 56;

    /// <summary>The program whose code <paramref name="asm"/> assembled, linked at its load address.</summary>
    public static byte[] Executable(Assembler asm)
    {
        var body = asm.Link(Base + HeaderSize);
        var total = HeaderSize + body.Length;
        var elf = new byte[total];
        var span = elf.AsSpan();
        new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0 }.CopyTo(span);
        BitConverter.TryWriteBytes(span[16..], (ushort)2);        // ET_EXEC
        BitConverter.TryWriteBytes(span[18..], (ushort)0x3E);     // EM_X86_64
        BitConverter.TryWriteBytes(span[20..], 1u);
        BitConverter.TryWriteBytes(span[24..], Base + HeaderSize); // entry: the first instruction
        BitConverter.TryWriteBytes(span[32..], 64ul);              // program headers right after
        BitConverter.TryWriteBytes(span[52..], (ushort)64);
        BitConverter.TryWriteBytes(span[54..], (ushort)56);
        BitConverter.TryWriteBytes(span[56..], (ushort)1);
        var header = span[64..];
        BitConverter.TryWriteBytes(header, 1u);                    // PT_LOAD
        BitConverter.TryWriteBytes(header[4..], 5u);               // PF_R | PF_X
        BitConverter.TryWriteBytes(header[16..], Base);
        BitConverter.TryWriteBytes(header[24..], Base);
        BitConverter.TryWriteBytes(header[32..], (ulong)total);
        BitConverter.TryWriteBytes(header[40..], (ulong)total);
        BitConverter.TryWriteBytes(header[48..], 0x1000ul);
        body.CopyTo(span[HeaderSize..]);
        return elf;
    }

    /// <summary>Just enough of an assembler: bytes, labels, and fixups for 32-bit addresses and jumps.</summary>
    internal sealed class Assembler
    {
        private readonly List<byte> _bytes = new();
        private readonly Dictionary<string, int> _labels = new();
        private readonly List<(int At, string Label, char Kind)> _fixups = new();

        public Assembler Emit(params byte[] bytes) { _bytes.AddRange(bytes); return this; }
        public Assembler Emit16(ushort value) => Emit(BitConverter.GetBytes(value));
        public Assembler Emit32(uint value) => Emit(BitConverter.GetBytes(value));
        public Assembler Label(string name) { _labels[name] = _bytes.Count; return this; }
        public Assembler Align(int to) { while (_bytes.Count % to != 0) _bytes.Add(0); return this; }
        public Assembler EmitAddress(string label) { _fixups.Add((_bytes.Count, label, 'a')); return Emit32(0); }
        public Assembler EmitAddress64(string label) { _fixups.Add((_bytes.Count, label, 'q')); return Emit32(0).Emit32(0); }

        /// <summary>test rax, rax; jnz label (a system call returns -errno on failure).</summary>
        public void JumpIfFailed(string label)
        {
            Emit(0x48, 0x85, 0xC0, 0x0F, 0x85);
            _fixups.Add((_bytes.Count, label, 'r'));
            Emit32(0);
        }

        /// <summary>test rax, rax; js label (a system call that returns a number on success, -errno on failure).</summary>
        public void JumpIfNegative(string label)
        {
            Emit(0x48, 0x85, 0xC0, 0x0F, 0x88);
            _fixups.Add((_bytes.Count, label, 'r'));
            Emit32(0);
        }

        /// <summary>jz label.</summary>
        public void JumpIfZero(string label)
        {
            Emit(0x0F, 0x84);
            _fixups.Add((_bytes.Count, label, 'r'));
            Emit32(0);
        }

        /// <summary>je label (after a cmp).</summary>
        public void JumpIfEqual(string label) => JumpIfZero(label);

        /// <summary>jmp label.</summary>
        public void Jump(string label)
        {
            Emit(0xE9);
            _fixups.Add((_bytes.Count, label, 'r'));
            Emit32(0);
        }

        /// <summary>syscall(number, first, second): eax, edi, esi set from immediates; edx, r10, r8 zeroed when asked.</summary>
        public Assembler Syscall(int number, uint first, uint second, bool edxZero = false, bool zeroR10R8 = false)
        {
            Emit(0xB8).Emit32((uint)number).Emit(0xBF).Emit32(first).Emit(0xBE).Emit32(second);
            if (edxZero) Emit(0x31, 0xD2);
            if (zeroR10R8) Emit(0x45, 0x31, 0xD2, 0x45, 0x31, 0xC0);
            return Emit(0x0F, 0x05);
        }

        /// <summary>At <paramref name="label"/>: write(2, message) then exit_group(code).</summary>
        public void Fail(string label, string message, int code)
        {
            var bytes = Encoding.ASCII.GetBytes(message + "\n");
            Label(label);
            Emit(0xB8, 1, 0, 0, 0, 0xBF, 2, 0, 0, 0, 0xBE).EmitAddress(label + ".text").Emit(0xBA).Emit32((uint)bytes.Length).Emit(0x0F, 0x05);
            Emit(0xB8, 231, 0, 0, 0, 0xBF).Emit32((uint)code).Emit(0x0F, 0x05);
            Label(label + ".text").Emit(bytes);
        }

        public byte[] Link(ulong origin)
        {
            var bytes = _bytes.ToArray();
            foreach (var (at, label, kind) in _fixups)
            {
                var target = _labels[label];
                var span = bytes.AsSpan(at);
                switch (kind)
                {
                    case 'a': BitConverter.TryWriteBytes(span, checked((uint)(origin + (ulong)target))); break;
                    case 'q': BitConverter.TryWriteBytes(span, origin + (ulong)target); break;
                    default: BitConverter.TryWriteBytes(span, target - (at + 4)); break;
                }
            }
            return bytes;
        }
    }
}
