using System.Runtime.InteropServices;
using Blueback.Storage.Backup;

namespace Blueback.Storage.Format;

/// <summary>The log record that says a backup was taken (<see cref="Log.LogRecordType.BackupRecorded"/>, one per
/// database): its payload (the backup's type, then its <see cref="BackupInfo"/>) and what it does to a database
/// header, the same when the backup records it and when recovery replays it.</summary>
internal static class BackupRecord
{
    /// <summary>The record's payload.</summary>
    public static byte[] Payload(BackupType type, BackupInfo info)
    {
        var p = new byte[1 + BackupInfo.SizeOf];
        p[0] = (byte)type;
        MemoryMarshal.Write(p.AsSpan(1), in info);
        return p;
    }

    /// <summary>The backup a record's payload names.</summary>
    public static (BackupType Type, BackupInfo Info) Parse(ReadOnlySpan<byte> payload) =>
        ((BackupType)payload[0], MemoryMarshal.Read<BackupInfo>(payload[1..]));

    /// <summary>Applies a backup record to a header: a full backup starts a new base, clearing the incremental
    /// and differential records.</summary>
    public static void Apply(ref DatabaseHeader h, BackupType type, BackupInfo info)
    {
        switch (type)
        {
            case BackupType.Full:
                h.LastFull = info;
                h.LastIncremental = default;
                h.LastDifferential = default;
                break;
            case BackupType.Incremental:
                h.LastIncremental = info;
                break;
            case BackupType.Differential:
                h.LastDifferential = info;
                break;
            case BackupType.Copy:
                h.LastCopy = info;
                break;
        }
    }
}
