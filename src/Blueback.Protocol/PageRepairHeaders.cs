namespace Blueback.Protocol;

/// <summary>The headers of a standby's page image (<see cref="Routes.StandbyPage"/>): where the standby stood, and the
/// log stream and database the page belongs to, each signature written "ID.TICKS" (32 hex digits, creation ticks).</summary>
public static class PageRepairHeaders
{
    /// <summary>The log position the standby had applied through, "GEN:OFFSET".</summary>
    public const string AppliedThrough = "Blueback-Applied-Through";
    /// <summary>The log stream's signature.</summary>
    public const string LogSignature = "Blueback-Log-Signature";
    /// <summary>The database's signature.</summary>
    public const string DatabaseSignature = "Blueback-Database-Signature";
}
