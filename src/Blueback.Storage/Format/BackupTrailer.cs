using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

/// <summary>The page after the last page of a database image: what the image is and which logs complete it
/// (the original's trailer page, successor of its patch-file header).</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct BackupTrailer
{
    public const int SizeOf = 160;
    public const uint MagicValue = 0x52544242; // "BBTR"
    public const ushort CurrentVersion = 1;

    [FieldOffset(0)] public PageHeader Page;
    [FieldOffset(32)] public uint Magic;
    [FieldOffset(36)] public ushort FormatVersion;
    [FieldOffset(38)] public ushort DatabaseId;
    [FieldOffset(40)] public Signature DatabaseSignature;
    [FieldOffset(64)] public Signature LogSignature;
    [FieldOffset(88)] public uint GenLow;
    /// <summary>The log generation current when the image was finished: restore must replay at least to here.</summary>
    [FieldOffset(92)] public uint GenHigh;
    [FieldOffset(96)] public ulong MarkLsn;
    [FieldOffset(104)] public long MarkTicks;
    /// <summary>Pages in the image before this trailer (headers included).</summary>
    [FieldOffset(112)] public uint PageCount;
    [FieldOffset(116)] public uint PageSize;
    [FieldOffset(120)] public Guid BackupId;
    /// <summary>The checkpoint when the backup began: every change before it is in the image's pages, so hard
    /// recovery starts replay here (and every page it then touches has a whole image in the log before any delta).</summary>
    [FieldOffset(136)] public ulong RedoLsn;
    // 144..159 reserved.
}
