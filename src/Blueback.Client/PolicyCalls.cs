using System.Globalization;
using System.Net.Http.Json;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>The policies' API (docs/console.md), one call per route: list, show, history, run now, a job's state,
/// cancel, set, remove, and browsing a set without restoring it.</summary>
public sealed class PolicyCalls(BluebackClient client)
{
    /// <summary>Every policy the server runs (GET /v1/policies).</summary>
    public async Task<List<PolicyInfo>> ListAsync(CancellationToken cancellationToken)
    {
        using var response = await client.Http.GetAsync(Routes.Policies, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PolicyList, cancellationToken).ConfigureAwait(false))!.Policies;
    }

    /// <summary>The policy <paramref name="name"/> as the server runs it (404, as <see cref="BluebackApiException"/>, if
    /// there is none).</summary>
    public async Task<PolicyInfo> GetAsync(string name, CancellationToken cancellationToken)
    {
        using var response = await client.Http.GetAsync(Routes.Policy(name), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PolicyInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>The policy's last <paramref name="limit"/> jobs (1 to 1000), newest first.</summary>
    public async Task<List<PolicyJobInfo>> HistoryAsync(string name, int limit, CancellationToken cancellationToken)
    {
        using var response = await client.Http.GetAsync(Routes.PolicyHistory(name, limit), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PolicyHistory, cancellationToken).ConfigureAwait(false))!.Jobs;
    }

    /// <summary>Starts a job now (409, as <see cref="BluebackApiException"/>, if the policy runs one already).</summary>
    public async Task<PolicyJobInfo> RunAsync(string name, string kind, string? set, CancellationToken cancellationToken)
    {
        var url = Routes.PolicyRun(name, kind) + (set is null ? "" : string.Create(CultureInfo.InvariantCulture, $"&set={Uri.EscapeDataString(set)}"));
        using var response = await client.Http.PostAsync(url, null, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PolicyJobInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>One job of the policy: its state, and its outcome once ended.</summary>
    public async Task<PolicyJobInfo> JobAsync(string name, string id, CancellationToken cancellationToken)
    {
        using var response = await client.Http.GetAsync(Routes.PolicyJob(name, id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PolicyJobInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Stops a running job: its program removes its partial set and ends.</summary>
    public async Task CancelAsync(string name, string id, CancellationToken cancellationToken)
    {
        using var response = await client.Http.DeleteAsync(Routes.PolicyJob(name, id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets (creates or replaces) a policy through the API; the answer is the policy as the server now runs
    /// it.</summary>
    public async Task<PolicyInfo> PutAsync(PolicyDefinition policy, CancellationToken cancellationToken)
    {
        using var content = JsonContent.Create(policy, ProtocolJson.Default.PolicyDefinition);
        using var response = await client.Http.PutAsync(Routes.Policy(policy.Name), content, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.PolicyInfo, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Removes the policy <paramref name="name"/> (its repository and sets stay).</summary>
    public async Task DeleteAsync(string name, CancellationToken cancellationToken)
    {
        using var response = await client.Http.DeleteAsync(Routes.Policy(name), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens set <paramref name="id"/> of the policy for browsing (mounted on the server, not restored): its
    /// databases and tables as of the set (GET .../sets/{id}/browse; role read).</summary>
    public async Task<SetBrowse> BrowseAsync(string name, string id, CancellationToken cancellationToken)
    {
        using var response = await client.Http.GetAsync(Routes.PolicySetBrowse(name, id), cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.SetBrowse, cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>One page of a table of set <paramref name="id"/> from key <paramref name="from"/> (inclusive; null: the
    /// first), as of the set; pass the answer's next for the following page.</summary>
    public async Task<BrowseRows> BrowseTableAsync(string name, string id, string database, string table, string? from, int? limit, CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (from is not null)
        {
            query.Add("from=" + Uri.EscapeDataString(from));
        }
        if (limit is { } l)
        {
            query.Add(string.Create(CultureInfo.InvariantCulture, $"limit={l}"));
        }
        var url = Routes.PolicySetBrowseTable(name, id, database, table) + (query.Count == 0 ? "" : "?" + string.Join('&', query));
        using var response = await client.Http.GetAsync(url, cancellationToken).ConfigureAwait(false);
        await BluebackClient.EnsureAsync(response, cancellationToken).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync(ProtocolJson.Default.BrowseRows, cancellationToken).ConfigureAwait(false))!;
    }
}
