using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

/// <summary>The fixed part of a log generation's header (the first <see cref="RegionSize"/> bytes of the file).
/// Attached databases follow at <see cref="AttachmentsOffset"/> as <see cref="LogAttachment"/> entries.</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct LogFileHeader
{
    public const int SizeOf = 128;
    public const int RegionSize = 4096;
    public const int AttachmentsOffset = 128;
    public const int MaxAttachments = (RegionSize - AttachmentsOffset) / LogAttachment.SizeOf;
    public const uint MagicValue = 0x474C4242; // "BBLG"
    public const ushort CurrentVersion = 1;

    /// <summary>CRC32C of the whole region after this field, seeded with the generation.</summary>
    [FieldOffset(0)] public uint Checksum;
    [FieldOffset(4)] public uint Magic;
    [FieldOffset(8)] public ushort FormatVersion;
    [FieldOffset(10)] public ushort Reserved0;
    [FieldOffset(12)] public uint Generation;
    [FieldOffset(16)] public Signature LogSignature;
    [FieldOffset(40)] public long CreatedTicks;
    [FieldOffset(48)] public long PreviousCreatedTicks;
    [FieldOffset(56)] public ulong CheckpointLsn;
    [FieldOffset(64)] public uint FileSize;
    [FieldOffset(68)] public uint AttachmentCount;
    [FieldOffset(72)] public uint Flags;
    // 76..127 reserved.

    public const uint FlagCircular = 1;
}

/// <summary>A database attached when a generation was created: its id in log records and its signature.</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct LogAttachment
{
    public const int SizeOf = 32;

    [FieldOffset(0)] public ushort DatabaseId;
    [FieldOffset(2)] public ushort Reserved0;
    [FieldOffset(4)] public uint Reserved1;
    [FieldOffset(8)] public Signature DatabaseSignature;
}
