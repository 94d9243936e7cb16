using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

/// <summary>The checkpoint file: two slots of <see cref="SlotSize"/> bytes (a shadow pair, the higher valid
/// revision wins), each holding this header and then the attached databases as
/// <see cref="CheckpointAttachment"/> entries with their paths.</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct CheckpointHeader
{
    public const int SizeOf = 128;
    public const int SlotSize = 8192;
    public const int MaxAttachments = (SlotSize - SizeOf) / CheckpointAttachment.SizeOf;
    public const uint MagicValue = 0x4B434242; // "BBCK"
    public const ushort CurrentVersion = 1;

    [FieldOffset(0)] public uint Checksum;
    [FieldOffset(4)] public uint Magic;
    [FieldOffset(8)] public ushort FormatVersion;
    [FieldOffset(10)] public ushort Reserved0;
    [FieldOffset(12)] public uint AttachmentCount;
    [FieldOffset(16)] public ulong Revision;
    [FieldOffset(24)] public Signature LogSignature;
    [FieldOffset(48)] public ulong CheckpointLsn;
    [FieldOffset(56)] public long WrittenTicks;
    [FieldOffset(64)] public uint Flags;
    // 68..127 reserved (the backup issue records its last full / incremental positions here).
}

[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public unsafe struct CheckpointAttachment
{
    public const int SizeOf = 288;
    public const int MaxPathBytes = 256;

    [FieldOffset(0)] public ushort DatabaseId;
    [FieldOffset(2)] public ushort PathLength;
    [FieldOffset(4)] public uint Reserved0;
    [FieldOffset(8)] public Signature DatabaseSignature;
    [FieldOffset(32)] public fixed byte Path[MaxPathBytes];
}
