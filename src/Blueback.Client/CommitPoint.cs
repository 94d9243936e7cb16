using System.Globalization;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>Where a committed write lies: its commit's end in the log ("GEN:OFFSET") and its commit time (UTC).
/// Either, given to <c>blueback restore --stop-at</c>, restores exactly up to and including this write.</summary>
public sealed record CommitPoint(string Lsn, DateTime Time)
{
    internal static CommitPoint From(HttpResponseMessage response)
    {
        var lsn = response.Headers.TryGetValues(Routes.CommitLsnHeader, out var l) ? l.FirstOrDefault() ?? "" : "";
        var time = response.Headers.TryGetValues(Routes.CommitTimeHeader, out var t)
            && DateTime.TryParse(t.FirstOrDefault(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var parsed)
            ? parsed
            : default;
        return new CommitPoint(lsn, time);
    }
}
