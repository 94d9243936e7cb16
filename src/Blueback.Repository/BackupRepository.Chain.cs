using Blueback.Repository.Chain;

namespace Blueback.Repository;

/// <summary>The repository's hash chain (tamper evidence): every commit of a set or shipped generation and every
/// forget appends an entry; <see cref="CheckChainAsync"/> compares it with what the repository holds.</summary>
public sealed partial class BackupRepository
{
    /// <summary>How long a commit keeps trying to add its entry once its caller has stopped: a committed set
    /// without its entry reads as one put in from outside, so a Ctrl+C just after the manifest still lets the
    /// entry (a few small writes) land.</summary>
    private static readonly TimeSpan ChainAppendBound = TimeSpan.FromSeconds(10);

    private RepositoryChain? _chain;

    private RepositoryChain ChainLog => _chain ??= new RepositoryChain(this);

    /// <summary>Where chain entry <paramref name="seq"/> is stored (<c>chain/NNNNNNNNNNNN.json</c>).</summary>
    public static string ChainEntryKey(long seq) => RepositoryChain.EntryKey(seq);

    /// <summary>The chain's last entry (sequence number and hash), or null when the repository has none yet: what
    /// to record elsewhere and give to <c>verify --expect-head</c>.</summary>
    public Task<ChainHead?> ChainHeadAsync(CancellationToken cancellationToken = default) => ChainLog.TipAsync(cancellationToken);

    /// <summary>Reads the whole chain and checks it: every link, every committed set and shipped generation against
    /// the manifest hash its entry recorded, sets gone without a forget, sets in no entry, and (when given) the head
    /// recorded earlier, which shows a chain cut short.</summary>
    public async Task<ChainReport> CheckChainAsync(ChainHead? expectedHead, CancellationToken cancellationToken = default)
    {
        // What the repository holds first, then the chain: a set committed in between has its entry by then.
        var manifests = (await ChainLog.BaselineAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(i => i.Set, i => i.Manifest, StringComparer.Ordinal);
        var entries = await ChainLog.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        return ChainCheck.Check(Id, entries, manifests, expectedHead);
    }

    /// <summary>Adds an entry for a commit or forget. It goes on past the caller's cancel, bounded (see
    /// <see cref="ChainAppendBound"/>).</summary>
    internal async Task<ChainHead> AppendChainAsync(string kind, string setId, string? manifestHash, CancellationToken cancellationToken)
    {
        using var bound = new CancellationTokenSource(ChainAppendBound);
        try
        {
            return await ChainLog.AppendAsync(kind, setId, manifestHash, bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new RepositoryException($"Repository '{Store.Location}': adding the {kind} entry for {setId} to the chain took longer than {ChainAppendBound.TotalSeconds:0} s; the {(kind == ChainKinds.Forget ? "forget" : "commit")} itself is done. 'blueback verify' names the set the chain lacks.");
        }
    }

    /// <summary>Starts the chain of a new repository (its genesis entry).</summary>
    private Task StartChainAsync(CancellationToken cancellationToken) => ChainLog.AppendAsync(ChainKinds.Genesis, null, null, cancellationToken);
}
