using Blueback.Storage.Format;
using Blueback.Storage.Log;

namespace Blueback.Storage.Diagnostics;

public sealed record GenerationReport(
    uint Generation,
    string File,
    Signature LogSignature,
    DateTime Created,
    DateTime PreviousCreated,
    Lsn CheckpointAtCreation,
    long Records,
    long Commits,
    string End,
    uint EndOffset,
    IReadOnlyList<string> Problems);

public sealed record LogReport(string Directory, IReadOnlyList<GenerationReport> Generations, IReadOnlyList<string> Problems)
{
    public bool Ok => Problems.Count == 0 && Generations.All(g => g.Problems.Count == 0);
}

/// <summary>One generation's copy checked on its own: header, every record, its end record.</summary>
public sealed record GenerationCopyCheck(uint Generation, string LogSignatureId, long CreatedTicks, long PreviousCreatedTicks, string? Problem);

/// <summary>Offline verification of a log directory (the original's eseutil /ml): every generation's header and
/// records, signatures, gaps and contiguity, damage versus a torn tail.</summary>
public static class LogCheck
{
    /// <summary>Checks a generation held in memory (from a backup set): it must be whole, ending with its end record.</summary>
    public static GenerationCopyCheck VerifyCopy(byte[] data, string name, uint generation)
    {
        LogGenerationReader reader;
        try
        {
            reader = LogGenerationReader.FromBytes(data, name, generation);
        }
        catch (LogCorruptException ex)
        {
            return new GenerationCopyCheck(generation, "", 0, 0, ex.Message);
        }
        while (reader.TryRead(out _))
        {
        }
        var h = reader.Header;
        string? problem = reader.End == LogEnd.GenerationEnd ? null : $"log generation {generation} is damaged or incomplete at offset {reader.EndPosition.Offset} (no end record)";
        return new GenerationCopyCheck(generation, h.LogSignature.Id.ToString("N"), h.CreatedTicks, h.PreviousCreatedTicks, problem);
    }

    public static LogReport Verify(string directory, CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        var gens = LogFiles.List(directory);
        var reports = new List<GenerationReport>();
        if (gens.Count == 0)
        {
            problems.Add($"no log generations in '{directory}'");
            return new LogReport(directory, reports, problems);
        }
        Signature? signature = null;
        long previousCreated = 0;
        uint previousGen = 0;
        foreach (var g in gens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var own = new List<string>();
            if (previousGen != 0 && g != previousGen + 1)
            {
                problems.Add($"generations {previousGen + 1} to {g - 1} are missing (gap before generation {g})");
                previousCreated = 0;
            }
            LogGenerationReader reader;
            try
            {
                reader = LogGenerationReader.Open(directory, g);
            }
            catch (LogCorruptException ex)
            {
                reports.Add(new GenerationReport(g, LogFiles.PathOf(directory, g), default, default, default, Lsn.Zero, 0, 0, "unreadable", 0, [ex.Message]));
                previousGen = g;
                previousCreated = 0;
                continue;
            }
            var h = reader.Header;
            signature ??= h.LogSignature;
            if (h.LogSignature != signature)
            {
                own.Add($"foreign log signature {h.LogSignature} (the others have {signature})");
            }
            if (previousCreated != 0 && h.PreviousCreatedTicks != previousCreated)
            {
                own.Add($"not contiguous: says generation {g - 1} was created at {new DateTime(h.PreviousCreatedTicks, DateTimeKind.Utc):O}, but it was created at {new DateTime(previousCreated, DateTimeKind.Utc):O}");
            }
            long records = 0, commits = 0;
            while (reader.TryRead(out var rec))
            {
                records++;
                if (rec.Type == LogRecordType.Commit)
                {
                    commits++;
                }
            }
            bool last = g == gens[^1];
            string end = reader.End switch
            {
                LogEnd.GenerationEnd => "complete",
                LogEnd.TornTail when last => "end of log",
                LogEnd.TornTail => "truncated",
                _ => "damaged",
            };
            if (reader.End == LogEnd.Damaged)
            {
                own.Add($"damaged at offset {reader.EndPosition.Offset}: records flushed later follow it");
            }
            else if (reader.End == LogEnd.TornTail && !last)
            {
                own.Add($"ends at offset {reader.EndPosition.Offset} without its end record, though later generations exist");
            }
            reports.Add(new GenerationReport(g, reader.Path, h.LogSignature, new DateTime(h.CreatedTicks, DateTimeKind.Utc),
                new DateTime(h.PreviousCreatedTicks, DateTimeKind.Utc), Lsn.FromValue(h.CheckpointLsn), records, commits, end, reader.EndPosition.Offset, own));
            previousCreated = h.CreatedTicks;
            previousGen = g;
        }
        return new LogReport(directory, reports, problems);
    }
}
