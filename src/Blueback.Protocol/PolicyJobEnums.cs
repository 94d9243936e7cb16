using System.Text.Json;
using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>What a policy's job does. On the wire in lower case: full, incremental, differential, prove, forget, gc,
/// verify, restore.</summary>
[JsonConverter(typeof(WireEnumConverter<PolicyJobKind>))]
public enum PolicyJobKind
{
    /// <summary>A full backup: every database image and the logs from its checkpoint.</summary>
    Full,

    /// <summary>An incremental backup: what changed since the chain's last set.</summary>
    Incremental,

    /// <summary>A differential backup: what changed since the chain's last full.</summary>
    Differential,

    /// <summary>A proof of a set: restored into scratch, recovered, checked.</summary>
    Prove,

    /// <summary>Retention: <c>forget</c> with the policy's rules.</summary>
    Forget,

    /// <summary><c>repo gc</c>: frees what forgotten sets held.</summary>
    Gc,

    /// <summary><c>repo copy --all</c> into the policy's second repository (<c>copyTo</c>), after each committed backup.</summary>
    Copy,

    /// <summary>A verify of a set (an operator's, from the console or run-now): every chunk, hash and page re-read.</summary>
    Verify,

    /// <summary>A set restored into a new instance of this server, beside the live one (an operator's, from the
    /// console or run-now): <c>blueback restore --server --as INSTANCE-SETID</c>.</summary>
    Restore,
}

/// <summary>Where a policy's job is. On the wire in lower case.</summary>
[JsonConverter(typeof(WireEnumConverter<PolicyJobState>))]
public enum PolicyJobState
{
    /// <summary>Its program runs now.</summary>
    Running,

    /// <summary>It did what it was for.</summary>
    Succeeded,

    /// <summary>It failed: its error says why; a backup is retried with a doubling pause.</summary>
    Failed,

    /// <summary>Stopped by an operator or by the server's stop; no partial set is listed.</summary>
    Cancelled,

    /// <summary>The server stopped or died under it (found at the next start).</summary>
    Interrupted,

    /// <summary>Nothing to do: a proof of a set that retention forgot first.</summary>
    Skipped,
}

/// <summary>Why a policy's job started. On the wire: schedule, missed, retry, run-now, after-backup.</summary>
[JsonConverter(typeof(WireEnumConverter<PolicyJobTrigger>))]
public enum PolicyJobTrigger
{
    /// <summary>Its interval came round.</summary>
    Schedule,

    /// <summary>It fell due while the server was down: run once at start.</summary>
    Missed,

    /// <summary>A failed backup tried again.</summary>
    Retry,

    /// <summary>Asked for by an operator (<c>policy run-now</c>).</summary>
    RunNow,

    /// <summary>Follows a committed backup (its proof, retention, gc).</summary>
    AfterBackup,
}

/// <summary>The wire names of the policy enums (lower case, words joined by '-'), for dictionary keys, metric labels
/// and messages.</summary>
public static class PolicyJobNames
{
    /// <summary>The backup kinds, in the order a chain needs them.</summary>
    public static readonly PolicyJobKind[] BackupKinds = [PolicyJobKind.Full, PolicyJobKind.Incremental, PolicyJobKind.Differential];

    /// <summary>Whether <paramref name="kind"/> takes a backup.</summary>
    public static bool IsBackup(this PolicyJobKind kind) => kind is PolicyJobKind.Full or PolicyJobKind.Incremental or PolicyJobKind.Differential;

    /// <summary>Whether <paramref name="kind"/> works on one set (a proof, a verify, a restore as a new instance): it
    /// runs in the server's one set lane, beside the policy's backups, never delaying them.</summary>
    public static bool ActsOnSet(this PolicyJobKind kind) => kind is PolicyJobKind.Prove or PolicyJobKind.Verify or PolicyJobKind.Restore;

    /// <summary>The wire name of <paramref name="value"/>.</summary>
    public static string WireName<T>(this T value) where T : struct, Enum => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    /// <summary>The value whose wire name is <paramref name="name"/>; false for any other text.</summary>
    public static bool TryParse<T>(string? name, out T value) where T : struct, Enum
    {
        foreach (var v in Enum.GetValues<T>())
        {
            if (string.Equals(v.WireName(), name, StringComparison.Ordinal))
            {
                value = v;
                return true;
            }
        }
        value = default;
        return false;
    }
}

/// <summary>Writes and reads an enum by its wire name (kebab-case lower), whatever options the serializer has.</summary>
/// <typeparam name="T">The enum.</typeparam>
public sealed class WireEnumConverter<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false)
    where T : struct, Enum;
