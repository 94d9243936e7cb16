using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Format;

namespace Blueback.Storage.Log;

/// <summary>Names, headers and creation of log generation files in a log directory.</summary>
public static class LogFiles
{
    private const string Prefix = "bb";
    private const string Extension = ".log";

    public static string FileName(uint generation) => $"{Prefix}{generation:X8}{Extension}";

    public static string PathOf(string directory, uint generation) => Path.Combine(directory, FileName(generation));

    public static bool TryParseGeneration(string fileName, out uint generation)
    {
        generation = 0;
        return fileName.StartsWith(Prefix, StringComparison.Ordinal) && fileName.EndsWith(Extension, StringComparison.Ordinal)
            && fileName.Length == Prefix.Length + 8 + Extension.Length
            && uint.TryParse(fileName.AsSpan(Prefix.Length, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out generation)
            && generation > 0;
    }

    /// <summary>Generations present in a directory, ascending.</summary>
    public static List<uint> List(string directory)
    {
        var list = new List<uint>();
        if (!Directory.Exists(directory))
        {
            return list;
        }
        foreach (var f in Directory.EnumerateFiles(directory, Prefix + "*" + Extension))
        {
            if (TryParseGeneration(Path.GetFileName(f), out var g))
            {
                list.Add(g);
            }
        }
        list.Sort();
        return list;
    }

    /// <summary>Writes a generation-end record at <paramref name="end"/> and flushes it: the log then ends there
    /// cleanly, whatever followed in that file.</summary>
    internal static void EndGenerationAt(string directory, Lsn end)
    {
        var path = PathOf(directory, end.Generation);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var rec = new byte[LogRecordLayout.HeaderSize];
        LogRecordLayout.WriteHeader(rec, rec.Length, end, LogRecordType.GenerationEnd, 0, 0);
        LogRecordLayout.Seal(rec, end, rec.Length);
        RandomAccess.Write(handle, rec, end.Offset);
        FileSystem.DataSync(handle, path);
    }

    public static byte[] BuildHeader(LogFileHeader header, IReadOnlyList<LogAttachment> attachments)
    {
        if (attachments.Count > LogFileHeader.MaxAttachments)
        {
            throw new StorageLimitException($"At most {LogFileHeader.MaxAttachments} databases can be attached to one instance.");
        }
        var region = new byte[LogFileHeader.RegionSize];
        header.Magic = LogFileHeader.MagicValue;
        header.FormatVersion = LogFileHeader.CurrentVersion;
        header.AttachmentCount = (uint)attachments.Count;
        MemoryMarshal.Write(region, in header);
        for (int i = 0; i < attachments.Count; i++)
        {
            var a = attachments[i];
            MemoryMarshal.Write(region.AsSpan(LogFileHeader.AttachmentsOffset + (i * LogAttachment.SizeOf)), in a);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(region, Crc32C.Compute(header.Generation, region.AsSpan(4)));
        return region;
    }

    /// <summary>Reads and checks a generation's header. Throws <see cref="LogCorruptException"/> naming the file.</summary>
    public static (LogFileHeader Header, List<LogAttachment> Attachments) ReadHeader(ReadOnlySpan<byte> region, string path, uint expectedGeneration)
    {
        if (region.Length < LogFileHeader.RegionSize)
        {
            throw new LogCorruptException($"Log file '{path}' is shorter than its header ({region.Length} bytes). The file is truncated; restore it from a backup or remove it if it is past the end of the log.", expectedGeneration);
        }
        var h = MemoryMarshal.Read<LogFileHeader>(region);
        if (h.Magic != LogFileHeader.MagicValue)
        {
            throw new LogCorruptException($"Log file '{path}' is not a Blueback log generation (bad magic number).", expectedGeneration);
        }
        var crc = Crc32C.Compute(h.Generation, region[4..LogFileHeader.RegionSize]);
        if (crc != h.Checksum)
        {
            throw new LogCorruptException($"Log file '{path}': header checksum mismatch (generation {expectedGeneration}). The header is damaged; restore this generation from a backup.", expectedGeneration, 0);
        }
        if (h.FormatVersion != LogFileHeader.CurrentVersion)
        {
            throw new LogCorruptException($"Log file '{path}' has format version {h.FormatVersion}; this build reads version {LogFileHeader.CurrentVersion}.", expectedGeneration);
        }
        if (h.Generation != expectedGeneration)
        {
            throw new LogCorruptException($"Log file '{path}' holds generation {h.Generation} but its name says {expectedGeneration}. It was renamed or copied into the wrong place.", expectedGeneration);
        }
        var list = new List<LogAttachment>((int)Math.Min(h.AttachmentCount, LogFileHeader.MaxAttachments));
        for (int i = 0; i < h.AttachmentCount && i < LogFileHeader.MaxAttachments; i++)
        {
            list.Add(MemoryMarshal.Read<LogAttachment>(region[(LogFileHeader.AttachmentsOffset + (i * LogAttachment.SizeOf))..]));
        }
        return (h, list);
    }

    public static (LogFileHeader Header, List<LogAttachment> Attachments) ReadHeader(string directory, uint generation)
    {
        var path = PathOf(directory, generation);
        var region = new byte[LogFileHeader.RegionSize];
        int n;
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            n = RandomAccess.Read(handle, region, 0);
        }
        return ReadHeader(region.AsSpan(0, n), path, generation);
    }

    /// <summary>The zero-filled file prepared in the background for the next generation.</summary>
    public static string SparePath(string directory) => Path.Combine(directory, "bbspare.tmp");

    /// <summary>Makes a file of <paramref name="size"/> bytes whose blocks are allocated (fallocate) and read as
    /// zeros, and flushes it: later writes need no block allocation, and no stale bytes can pass as records (each
    /// record carries its own position and checksum anyway).</summary>
    public static void PrepareSpare(string path, long size)
    {
        var tmp = path + ".new";
        using (var fs = new FileStream(tmp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.ReadWrite,
            Share = FileShare.Read,
            PreallocationSize = size,
        }))
        {
            fs.SetLength(size);
            fs.Flush();
            FileSystem.DataSync(fs.SafeFileHandle, tmp);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Creates a generation file, zeroed, header written and flushed, under a temporary name first so that
    /// a crash never leaves a half-made generation under a real name. Uses the prepared spare file when there is
    /// one of the right size (the zero-filling then happened off the commit path).</summary>
    public static void Create(string directory, LogFileHeader header, IReadOnlyList<LogAttachment> attachments, bool useSpare = false)
    {
        var path = PathOf(directory, header.Generation);
        var tmp = path + ".tmp";
        var region = BuildHeader(header, attachments);
        var spare = SparePath(directory);
        if (useSpare && File.Exists(spare) && new FileInfo(spare).Length == header.FileSize)
        {
            File.Move(spare, tmp, overwrite: true);
        }
        else
        {
            PrepareSpare(tmp, header.FileSize);
        }
        using (var handle = File.OpenHandle(tmp, FileMode.Open, FileAccess.ReadWrite, FileShare.Read))
        {
            RandomAccess.Write(handle, region, 0);
            FileSystem.DataSync(handle, tmp);
        }
        File.Move(tmp, path, overwrite: false);
        FileSystem.SyncDirectory(directory);
    }
}
