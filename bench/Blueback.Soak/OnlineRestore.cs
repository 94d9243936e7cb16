using System.Text;
using Blueback.Client;

namespace Blueback.Soak;

/// <summary>Online restores: a known set restored through the running server's restore API as a new instance
/// <c>restored-N</c> beside the live one, sometimes stopped by ^C, then read back through the data API while the writers
/// go on against <c>store</c>. (The program restores over an instance only of the set's own name, so each restore takes
/// a new name; the server rounds remove them while the server is down.)</summary>
internal sealed partial class Rounds
{
    private const string OnlinePrefix = "restored-";
    private int _onlineRestores;

    public async Task OnlineRestoreAsync()
    {
        if (_known.Count == 0)
        {
            return;
        }
        var (id, acked) = _known.ElementAt(rng.Next(_known.Count));
        using var c = new BluebackClient(server.Url, timeout: TimeSpan.FromSeconds(30));
        var name = $"{OnlinePrefix}{++_onlineRestores}";
        var signal = rng.Next(100) < 30 ? "INT" : "none";
        var o = Programs.Run(signal, Delay(), CommandBound, "restore", "--repo", repo, "--set", id, "--server", server.Url, "--as", name);
        Record(o with { Command = "online restore" }, "online restore");
        if (o.Exit != 0 || o.Hung)
        {
            return;
        }
        var problem = await CheckOnlineAsync(c, name, acked).ConfigureAwait(false);
        tally.OnlineRestoresChecked++;
        if (problem is not null)
        {
            tally.Violation($"online restore of set {id}: {problem}");
        }
    }

    /// <summary>Reads the restored instance through the server: per writer, the last key acknowledged before the
    /// set's backup began and the end of its keys (found by doubling, then halving), then 50 keys drawn below the end,
    /// each with its bytes. A sample, not the offline check's every key: the data API pages a scan, and the instance
    /// holds millions of keys.</summary>
    private async Task<string?> CheckOnlineAsync(BluebackClient c, string name, long[] acked)
    {
        async Task<byte[]?> Get(int w, long n) =>
            await c.GetAsync(name, "mailbox", "soak", Encoding.UTF8.GetBytes(Writers.Key(w, n))).ConfigureAwait(false);
        for (int w = 0; w < acked.Length; w++)
        {
            if (acked[w] > 0 && await Get(w, acked[w] - 1).ConfigureAwait(false) is null)
            {
                return $"writer {w}: key {acked[w] - 1} missing, acknowledged before the backup began";
            }
            long low = acked[w], step = 1; // every key below low is present
            while (await Get(w, low + step - 1).ConfigureAwait(false) is not null)
            {
                low += step;
                step *= 2;
            }
            long high = low + step - 1; // missing
            while (low < high)
            {
                long mid = low + (high - low) / 2;
                if (await Get(w, mid).ConfigureAwait(false) is not null)
                {
                    low = mid + 1;
                }
                else
                {
                    high = mid;
                }
            }
            long end = low; // keys 0..end-1 present as far as the search saw
            for (int i = 0; i < 50 && end > 0; i++)
            {
                long n = rng.NextInt64(end);
                var value = await Get(w, n).ConfigureAwait(false);
                if (value is null)
                {
                    return $"writer {w}: key {n} missing below key {end - 1}: a gap (not one committed moment)";
                }
                if (!value.AsSpan().SequenceEqual(Writers.Value(w, n)))
                {
                    return $"writer {w}: key {n} holds other bytes than were written";
                }
            }
        }
        return null;
    }

    /// <summary>While the server is down: drops the instances online restores made (their directories and the
    /// server's list of restored instances), as an operator would once done with them.</summary>
    private void DropOnlineRestores(string data)
    {
        foreach (var dir in Directory.EnumerateDirectories(data, OnlinePrefix + "*"))
        {
            Directory.Delete(dir, recursive: true);
        }
        File.Delete(Path.Combine(data, "restored-instances.json"));
    }
}
