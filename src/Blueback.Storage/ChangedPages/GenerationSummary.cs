using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Format;
using Blueback.Storage.Log;

namespace Blueback.Storage.ChangedPages;

/// <summary>Which pages of which database one log generation changed: built from the generation's records (a page
/// image or delta names its database and page), keyed by database signature so that a detach and attach under
/// another id is still the same database. A summary that cannot be complete (a record of a database the generation
/// never attached, records that stop before the generation's end) says so and is never used to leave a page out.</summary>
internal sealed class GenerationSummary
{
    private const uint Magic = 0x53504242; // "BBPS"
    private const ushort Version = 1;
    private const int HeaderSize = 4 + 2 + 2 + 4 + Signature.SizeOf + 4;

    private GenerationSummary(uint generation, Signature logSignature, string? untrusted, Dictionary<Signature, uint[]> pages)
    {
        Generation = generation;
        LogSignature = logSignature;
        Untrusted = untrusted;
        Pages = pages;
    }

    public uint Generation { get; }
    public Signature LogSignature { get; }

    /// <summary>Why this summary may miss a change (null when it is complete).</summary>
    public string? Untrusted { get; }

    /// <summary>Per database signature, the pages changed, sorted and distinct.</summary>
    public Dictionary<Signature, uint[]> Pages { get; }

    /// <summary>Reads generation <paramref name="generation"/> from <paramref name="logDirectory"/> and lists the pages
    /// its records change.</summary>
    public static GenerationSummary Build(string logDirectory, uint generation)
    {
        var reader = LogGenerationReader.Open(logDirectory, generation);
        var ids = new Dictionary<ushort, Signature>();
        foreach (var a in reader.Attachments)
        {
            ids[a.DatabaseId] = a.DatabaseSignature;
        }
        var sets = new Dictionary<Signature, HashSet<uint>>();
        string? untrusted = null;
        while (reader.TryRead(out var rec))
        {
            switch (rec.Type)
            {
                case LogRecordType.Attach:
                    ids[rec.Database] = MemoryMarshal.Read<Signature>(rec.Payload.Span);
                    break;
                case LogRecordType.PageImage or LogRecordType.PageDelta:
                    if (!ids.TryGetValue(rec.Database, out var sig))
                    {
                        untrusted ??= $"generation {generation} changes pages of database id {rec.Database}, which it never attached";
                        break;
                    }
                    if (!sets.TryGetValue(sig, out var set))
                    {
                        sets[sig] = set = [];
                    }
                    set.Add(rec.Page);
                    break;
            }
        }
        if (reader.End != LogEnd.GenerationEnd)
        {
            untrusted ??= $"the records of generation {generation} stop at {reader.EndPosition} ({reader.End}) before its end record";
        }
        var pages = sets.ToDictionary(kv => kv.Key, kv => kv.Value.Order().ToArray());
        return new GenerationSummary(generation, reader.Header.LogSignature, untrusted, pages);
    }

    public byte[] Serialize()
    {
        int size = HeaderSize + Pages.Sum(kv => Signature.SizeOf + 4 + kv.Value.Length * 4) + 4;
        var reason = System.Text.Encoding.UTF8.GetBytes(Untrusted ?? "");
        size += reason.Length;
        var b = new byte[size];
        var s = b.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], (ushort)reason.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], Generation);
        var logSig = LogSignature;
        MemoryMarshal.Write(s[12..], in logSig);
        BinaryPrimitives.WriteUInt32LittleEndian(s[(12 + Signature.SizeOf)..], (uint)Pages.Count);
        int at = HeaderSize;
        foreach (var (sig, pages) in Pages)
        {
            var db = sig;
            MemoryMarshal.Write(s[at..], in db);
            BinaryPrimitives.WriteUInt32LittleEndian(s[(at + Signature.SizeOf)..], (uint)pages.Length);
            at += Signature.SizeOf + 4;
            MemoryMarshal.AsBytes(pages.AsSpan()).CopyTo(s[at..]); // little endian on every platform .NET runs here
            at += pages.Length * 4;
        }
        reason.CopyTo(s[at..]);
        at += reason.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(s[at..], Crc32C.Compute(Generation, s[..at]));
        return b;
    }

    /// <summary>A summary read back; null when the file is damaged or not a summary of this generation (it is then
    /// built again from the log, if the log is still there).</summary>
    public static GenerationSummary? Parse(ReadOnlySpan<byte> s, uint generation)
    {
        if (s.Length < HeaderSize + 4 || BinaryPrimitives.ReadUInt32LittleEndian(s) != Magic || BinaryPrimitives.ReadUInt16LittleEndian(s[4..]) != Version
            || BinaryPrimitives.ReadUInt32LittleEndian(s[8..]) != generation
            || BinaryPrimitives.ReadUInt32LittleEndian(s[^4..]) != Crc32C.Compute(generation, s[..^4]))
        {
            return null;
        }
        int reasonLength = BinaryPrimitives.ReadUInt16LittleEndian(s[6..]);
        var logSig = MemoryMarshal.Read<Signature>(s[12..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(s[(12 + Signature.SizeOf)..]);
        var pages = new Dictionary<Signature, uint[]>();
        int at = HeaderSize;
        for (uint i = 0; i < count; i++)
        {
            if (at + Signature.SizeOf + 4 > s.Length - 4)
            {
                return null;
            }
            var sig = MemoryMarshal.Read<Signature>(s[at..]);
            int n = (int)BinaryPrimitives.ReadUInt32LittleEndian(s[(at + Signature.SizeOf)..]);
            at += Signature.SizeOf + 4;
            if (n < 0 || at + (long)n * 4 > s.Length - 4)
            {
                return null;
            }
            pages[sig] = MemoryMarshal.Cast<byte, uint>(s.Slice(at, n * 4)).ToArray();
            at += n * 4;
        }
        if (at + reasonLength != s.Length - 4)
        {
            return null;
        }
        var reason = reasonLength == 0 ? null : System.Text.Encoding.UTF8.GetString(s.Slice(at, reasonLength));
        return new GenerationSummary(generation, logSig, reason, pages);
    }
}
