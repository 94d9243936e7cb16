using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

public enum DatabaseState : uint
{
    JustCreated = 0,
    Clean = 1,
    Dirty = 2,
    RestoredAwaitingRecovery = 3,
}

/// <summary>One backup record in a database header: where in the log it was marked, when, and which generations
/// it covers. The backup issue fills these; the engine reserves and preserves them.</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct BackupInfo
{
    public const int SizeOf = 32;

    [FieldOffset(0)] public ulong MarkLsn;
    [FieldOffset(8)] public long MarkTicks;
    [FieldOffset(16)] public uint GenLow;
    [FieldOffset(20)] public uint GenHigh;
    [FieldOffset(24)] public ulong Reserved;

    public readonly bool IsEmpty => GenLow == 0 && MarkTicks == 0;
}

/// <summary>The database header, stored on page 0 and again on page 1 (the shadow). It follows the common page
/// header so the same checksum rule covers it.</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public struct DatabaseHeader
{
    public const int SizeOf = 512;
    public const uint MagicValue = 0x42444242; // "BBDB"
    /// <summary>Version 2 keeps long values in pieces packed into shared pages; version 1 gave each its own
    /// chain of whole pages. This build reads both and writes 2: a database it attaches becomes version 2 then,
    /// before any page changes, since its new long values will be pieces.</summary>
    public const ushort CurrentVersion = 2;
    public const ushort OldestReadableVersion = 1;

    [FieldOffset(0)] public PageHeader Page;
    [FieldOffset(32)] public uint Magic;
    [FieldOffset(36)] public ushort FormatVersion;
    [FieldOffset(38)] public ushort Reserved0;
    [FieldOffset(40)] public uint PageSize;
    [FieldOffset(44)] public DatabaseState State;
    [FieldOffset(48)] public Signature DatabaseSignature;
    [FieldOffset(72)] public Signature LogSignature;
    [FieldOffset(96)] public uint GenMinRequired;
    [FieldOffset(100)] public uint GenMaxRequired;
    [FieldOffset(104)] public ulong ConsistentLsn;
    [FieldOffset(112)] public long ConsistentTicks;
    [FieldOffset(120)] public ulong Revision;
    [FieldOffset(128)] public BackupInfo LastFull;
    [FieldOffset(160)] public BackupInfo LastIncremental;
    [FieldOffset(192)] public BackupInfo LastDifferential;
    [FieldOffset(224)] public BackupInfo LastCopy;
    [FieldOffset(256)] public BackupInfo CurrentBackup;
    // 288..511 reserved for later formats.
}
