using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.Protocol;

namespace Blueback.Server.Policies;

/// <summary>What a policy remembers across restarts: when each kind of job last succeeded and was tried, the failures in
/// a row, the sets waiting for their proof, and the job that was running (found at start: the server died under it).</summary>
internal sealed class PolicyState
{
    /// <summary>By the kind's wire name (<see cref="PolicyJobNames.WireName{T}"/>).</summary>
    [JsonPropertyName("lastSuccess")] public Dictionary<string, DateTime> LastSuccess { get; set; } = [];
    /// <summary>By the kind's wire name.</summary>
    [JsonPropertyName("lastJob")] public Dictionary<string, PolicyJobInfo> LastJob { get; set; } = [];
    [JsonPropertyName("failures")] public int Failures { get; set; }
    [JsonPropertyName("retryAt")] public DateTime? RetryAt { get; set; }
    [JsonPropertyName("retryKind")] public PolicyJobKind? RetryKind { get; set; }
    [JsonPropertyName("toProve")] public List<string> ToProve { get; set; } = [];
    [JsonPropertyName("lastProofSweep")] public DateTime? LastProofSweep { get; set; }
    [JsonPropertyName("running")] public List<PolicyJobInfo> Running { get; set; } = [];

    /// <summary>When a backup of <paramref name="kind"/> last succeeded; default if never.</summary>
    public DateTime LastSuccessOf(PolicyJobKind kind) => LastSuccess.GetValueOrDefault(kind.WireName());
}

/// <summary>The policies' files under DATA/policies: the ones set through the API, each policy's state, and its history
/// (a JSON line per job, the newest kept).</summary>
internal sealed class PolicyStore(string dataDirectory)
{
    private const int HistoryKept = 2000;
    private readonly string _root = Path.Combine(dataDirectory, "policies");
    private readonly Lock _lock = new();
    private readonly JsonLinesJournal<PolicyJobInfo> _history = new(PolicyJson.Default.PolicyJobInfo, HistoryKept);

    private string Dir(string policy) => Path.Combine(_root, policy);

    public string DefaultScratch => Path.Combine(dataDirectory, "proofs");

    public List<PolicyDefinition> LoadApiPolicies()
    {
        var path = Path.Combine(_root, "api.json");
        if (!File.Exists(path))
        {
            return [];
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), PolicyJson.Default.ListPolicyDefinition) ?? [];
        }
        catch (JsonException ex)
        {
            throw new ServerConfigException($"'{path}' (the policies set through the API) is not valid JSON: {ex.Message}. Fix or remove it.");
        }
    }

    public void SaveApiPolicies(List<PolicyDefinition> policies) =>
        WriteAtomic(Path.Combine(_root, "api.json"), JsonSerializer.SerializeToUtf8Bytes(policies, PolicyJson.Default.ListPolicyDefinition));

    public PolicyState LoadState(string policy)
    {
        var path = Path.Combine(Dir(policy), "state.json");
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), PolicyJson.Default.PolicyState) ?? new() : new();
        }
        catch (JsonException)
        {
            return new(); // a damaged state only means every job is due: the repository holds the truth about sets
        }
    }

    public void SaveState(string policy, PolicyState state)
    {
        lock (_lock)
        {
            WriteAtomic(Path.Combine(Dir(policy), "state.json"), JsonSerializer.SerializeToUtf8Bytes(state, PolicyJson.Default.PolicyState));
        }
    }

    public void AppendHistory(PolicyJobInfo job) => _history.Append(Path.Combine(Dir(job.Policy), "history.jsonl"), job);

    /// <summary>The newest jobs first.</summary>
    public List<PolicyJobInfo> History(string policy, int limit) => _history.Newest(Path.Combine(Dir(policy), "history.jsonl"), limit);

    private static void WriteAtomic(string path, byte[] bytes) => AtomicFile.Write(path, bytes);
}

[JsonSerializable(typeof(PolicyState))]
[JsonSerializable(typeof(PolicyJobInfo))]
[JsonSerializable(typeof(List<PolicyDefinition>))]
internal sealed partial class PolicyJson : JsonSerializerContext;
