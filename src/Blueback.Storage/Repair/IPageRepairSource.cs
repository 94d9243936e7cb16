using Blueback.Storage.Format;

namespace Blueback.Storage.Repair;

/// <summary>Where an instance fetches a good image of a page that failed its checksum in a normal read (docs/engine.md,
/// "Pages that repair themselves"). The engine knows no HTTP: the server implements this (a warm standby's page
/// route). <see cref="Fetch"/> runs on the reading thread with only that page's load waiting on it, bounded by the
/// instance's <see cref="InstanceOptions.PageRepairTimeout"/> through its token.</summary>
public interface IPageRepairSource
{
    /// <summary>The source as messages name it ("standby http://10.0.0.2:7421").</summary>
    string Name { get; }

    /// <summary>A good image of the page as the source holds it, or null when it has none. Throw (any exception) when
    /// it cannot be reached; the read then fails as it would without a source.</summary>
    PageRepairImage? Fetch(PageRepairRequest request, CancellationToken cancellationToken);

    /// <summary>Told of every attempt, repaired or not (the server logs it, counts it, raises an alert).</summary>
    void Report(PageRepairReport report);
}

/// <summary>The page wanted: of which instance, database (name and signature) and log stream.</summary>
public sealed record PageRepairRequest(string Instance, string Database, Signature DatabaseSignature, Signature LogSignature, uint Page, int PageSize);

/// <summary>A page image from a source and the log position its holder had applied through: every change to the page
/// before <paramref name="AppliedThrough"/> is in the image, and the instance replays its own log from there.
/// <paramref name="From"/> names where in the source it came from ("repository /r set ID"), when more than the
/// source's name says.</summary>
public sealed record PageRepairImage(byte[] Data, Lsn AppliedThrough, Signature LogSignature, Signature DatabaseSignature, string? From = null);

/// <summary>One repair attempt: the page, the source, whether it was repaired, and the detail (the log replayed, or
/// why it was not repaired).</summary>
public sealed record PageRepairReport(string Instance, string Database, string File, uint Page, string Source, bool Repaired, string Detail, DateTime At);
