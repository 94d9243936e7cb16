namespace Blueback.Protocol.Programs;

/// <summary>The <c>blueback</c> program's exit codes. Each means one thing, so that scripts, policies and the server
/// act on the code alone and never on the text the program printed.</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Ok = 0;

    /// <summary>The command ran to its end and found damage (<c>verify</c>, <c>prove</c>, <c>db checksum</c>,
    /// <c>db logs</c>): the data is the problem, not the command.</summary>
    public const int ProblemFound = 1;

    /// <summary>The command failed: its message on standard error names the object and the remedy.</summary>
    public const int Failed = 2;

    /// <summary>What the command names does not exist: a set (never committed, or forgotten by retention) or a
    /// repository (no <c>config.json</c> at the location).</summary>
    public const int NotFound = 3;

    /// <summary>The command line is wrong (an unknown option, a missing argument): nothing was done (sysexits'
    /// EX_USAGE).</summary>
    public const int Usage = 64;

    /// <summary>Stopped by Ctrl+C or SIGTERM; what the command had written was removed.</summary>
    public const int Cancelled = 130;
}
