using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Blueback.Server;

/// <summary>A history kept in a file of JSON lines, bounded: once the file passes <paramref name="kept"/> KiB and holds
/// more than <paramref name="kept"/> records it is cut to the newest <c>kept/2</c> (a policy's jobs, the alerts'
/// changes): at least <c>kept/2</c> records are kept, and at most the larger of <c>kept</c> records and
/// <c>kept</c> KiB. The size is looked at on each append, the lines only past it. A line cut by a crash mid-append is
/// skipped when read.</summary>
internal sealed class JsonLinesJournal<T>(JsonTypeInfo<T> type, int kept) where T : class
{
    private readonly Lock _lock = new();

    public void Append(string path, T record)
    {
        lock (_lock)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.AppendAllText(path, JsonSerializer.Serialize(record, type) + "\n", Encoding.UTF8);
            if (new FileInfo(path).Length > kept * 1024L)
            {
                var lines = File.ReadAllLines(path);
                if (lines.Length > kept)
                {
                    AtomicFile.Write(path, Encoding.UTF8.GetBytes(string.Join('\n', lines.TakeLast(kept / 2)) + "\n"));
                }
            }
        }
    }

    /// <summary>The newest <paramref name="limit"/> records, newest first.</summary>
    public List<T> Newest(string path, int limit)
    {
        string[] lines;
        lock (_lock)
        {
            lines = File.Exists(path) ? File.ReadAllLines(path) : [];
        }
        var records = new List<T>();
        foreach (var line in lines.Reverse())
        {
            if (records.Count >= limit)
            {
                break;
            }
            try
            {
                if (line.Length > 0 && JsonSerializer.Deserialize(line, type) is { } r)
                {
                    records.Add(r);
                }
            }
            catch (JsonException)
            {
                // a line cut by a crash mid-append
            }
        }
        return records;
    }
}

/// <summary>A small file replaced whole or not at all (a state that a crash must not leave half-written).</summary>
internal static class AtomicFile
{
    public static void Write(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
