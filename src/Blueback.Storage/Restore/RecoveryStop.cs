using System.Globalization;
using Blueback.Storage.Format;

namespace Blueback.Storage.Restore;

/// <summary>Where hard recovery stops: after the last transaction that committed at or before a time, or whose
/// commit ends at or before a log position. Written "GEN:OFFSET" for a position, ISO 8601 for a time.</summary>
public sealed record RecoveryStop(Lsn? Lsn, DateTime? Time)
{
    public static RecoveryStop AtLsn(Lsn lsn) => new(lsn, null);

    public static RecoveryStop AtTime(DateTime time) => new(null, time.ToUniversalTime());

    public static bool TryParse(string text, out RecoveryStop? stop)
    {
        stop = null;
        if (Format.Lsn.TryParse(text, out var lsn))
        {
            stop = AtLsn(lsn);
            return true;
        }
        if (DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time))
        {
            stop = AtTime(DateTime.SpecifyKind(time, DateTimeKind.Utc));
            return true;
        }
        return false;
    }

    public static RecoveryStop Parse(string text) => TryParse(text, out var s)
        ? s!
        : throw new RestoreException($"'{text}' is not a stop point: give a log position as GEN:OFFSET (as 'blueback db logs' prints) or a time in ISO 8601 (2026-11-22T10:15:00.1234567Z; a time without a zone is UTC).");

    public override string ToString() => Lsn is { } l ? l.ToString() : Time!.Value.ToString("O", CultureInfo.InvariantCulture);
}
