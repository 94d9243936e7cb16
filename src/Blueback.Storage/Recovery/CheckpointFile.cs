using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Blueback.IO;
using Blueback.Storage.Format;

namespace Blueback.Storage.Recovery;

/// <summary>An attached database as the checkpoint file records it. Paths inside the instance directory are
/// stored relative to it, so that a restored or moved instance still finds its databases.</summary>
public sealed record AttachedDatabase(ushort Id, Signature Signature, string Path);

/// <summary>What the checkpoint file says: where recovery starts and which databases belong to the instance.</summary>
public sealed record CheckpointState(Signature LogSignature, Lsn Checkpoint, ulong Revision, DateTime Written, IReadOnlyList<AttachedDatabase> Databases);

/// <summary>Reads and writes the shadowed checkpoint file.</summary>
public static class CheckpointFile
{
    public const string FileName = "checkpoint.chk";

    public static CheckpointState Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new StorageException($"Checkpoint file '{path}' does not exist. The directory is not a Blueback instance, or its checkpoint was deleted; hard recovery after a restore builds a new one.");
        }
        var data = File.ReadAllBytes(path);
        CheckpointState? best = null;
        for (int slot = 0; slot < 2; slot++)
        {
            if (data.Length < (slot + 1) * CheckpointHeader.SlotSize)
            {
                break;
            }
            var s = data.AsSpan(slot * CheckpointHeader.SlotSize, CheckpointHeader.SlotSize);
            var h = MemoryMarshal.Read<CheckpointHeader>(s);
            if (h.Magic != CheckpointHeader.MagicValue || h.Checksum != Crc32C.Compute((uint)slot, s[4..]) || h.AttachmentCount > CheckpointHeader.MaxAttachments)
            {
                continue;
            }
            if (best is not null && best.Revision >= h.Revision)
            {
                continue;
            }
            var list = new List<AttachedDatabase>();
            for (int i = 0; i < h.AttachmentCount; i++)
            {
                var a = MemoryMarshal.Read<CheckpointAttachment>(s[(CheckpointHeader.SizeOf + (i * CheckpointAttachment.SizeOf))..]);
                var pathBytes = s.Slice(CheckpointHeader.SizeOf + (i * CheckpointAttachment.SizeOf) + 32, Math.Min((int)a.PathLength, CheckpointAttachment.MaxPathBytes));
                list.Add(new AttachedDatabase(a.DatabaseId, a.DatabaseSignature, Encoding.UTF8.GetString(pathBytes)));
            }
            best = new CheckpointState(h.LogSignature, Lsn.FromValue(h.CheckpointLsn), h.Revision, new DateTime(h.WrittenTicks, DateTimeKind.Utc), list);
        }
        return best ?? throw new StorageException($"Checkpoint file '{path}': neither copy is valid (checksum or magic number). Recovery cannot know where to start; restore the instance from a backup, or rebuild the checkpoint with hard recovery.");
    }

    /// <summary>Writes the slot not holding the current revision and flushes it, so the other copy survives a
    /// torn write.</summary>
    public static void Write(string path, Signature logSignature, Lsn checkpoint, ulong revision, IReadOnlyList<AttachedDatabase> databases)
    {
        if (databases.Count > CheckpointHeader.MaxAttachments)
        {
            throw new StorageLimitException($"At most {CheckpointHeader.MaxAttachments} databases can be attached to one instance.");
        }
        int slot = (int)(revision % 2);
        var s = new byte[CheckpointHeader.SlotSize];
        var h = new CheckpointHeader
        {
            Magic = CheckpointHeader.MagicValue,
            FormatVersion = CheckpointHeader.CurrentVersion,
            AttachmentCount = (uint)databases.Count,
            Revision = revision,
            LogSignature = logSignature,
            CheckpointLsn = checkpoint.Value,
            WrittenTicks = DateTime.UtcNow.Ticks,
        };
        MemoryMarshal.Write(s, in h);
        for (int i = 0; i < databases.Count; i++)
        {
            var d = databases[i];
            var pathBytes = Encoding.UTF8.GetBytes(d.Path);
            if (pathBytes.Length > CheckpointAttachment.MaxPathBytes)
            {
                throw new StorageLimitException($"Database path '{d.Path}' is longer than {CheckpointAttachment.MaxPathBytes} bytes; keep databases inside the instance directory or use a shorter path.");
            }
            var a = new CheckpointAttachment { DatabaseId = d.Id, PathLength = (ushort)pathBytes.Length, DatabaseSignature = d.Signature };
            var at = CheckpointHeader.SizeOf + (i * CheckpointAttachment.SizeOf);
            MemoryMarshal.Write(s.AsSpan(at), in a);
            pathBytes.CopyTo(s.AsSpan(at + 32));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(s, Crc32C.Compute((uint)slot, s.AsSpan(4)));
        bool created = !File.Exists(path);
        using (var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read))
        {
            if (RandomAccess.GetLength(handle) < 2 * CheckpointHeader.SlotSize)
            {
                RandomAccess.SetLength(handle, 2 * CheckpointHeader.SlotSize);
            }
            RandomAccess.Write(handle, s, (long)slot * CheckpointHeader.SlotSize);
            FileSystem.DataSync(handle, path);
        }
        if (created)
        {
            FileSystem.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        }
    }
}
