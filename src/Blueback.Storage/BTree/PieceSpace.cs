namespace Blueback.Storage.BTree;

/// <summary>Where a database's next long-value pieces go: the current pieces page, and pages that deletes left
/// with room. Kept in memory only: a write view works on its own copy, and a commit makes that copy the
/// database's. Every page named here is checked before use (it may have been freed or taken for something else),
/// so a stale entry costs a fresh page, never a wrong one. After a restart, holes left earlier are refilled only
/// as further deletes name their pages again.</summary>
internal sealed class PieceSpace
{
    // 16 KiB of page numbers: enough to refill what a large delete leaves, bounded whatever it deletes.
    private const int MaxCandidates = 4096;
    private readonly List<uint> _candidates;

    public PieceSpace()
        : this(0, new List<uint>())
    {
    }

    private PieceSpace(uint current, List<uint> candidates)
    {
        Current = current;
        _candidates = candidates;
    }

    /// <summary>The page that took the last piece (0: none yet).</summary>
    public uint Current { get; set; }

    public PieceSpace Clone() => new(Current, new List<uint>(_candidates));

    /// <summary>Remembers a page with room; the oldest is forgotten when the list is full.</summary>
    public void Offer(uint page)
    {
        // A delete frees a value's pieces one after another, often several from one page: the last entry is
        // the check that matters (a repeat further back costs only a look when taken).
        if (page == Current || (_candidates.Count > 0 && _candidates[^1] == page))
        {
            return;
        }
        if (_candidates.Count == MaxCandidates)
        {
            _candidates.RemoveAt(0);
        }
        _candidates.Add(page);
    }

    /// <summary>How many pages are remembered; the most recently offered is at <c>Count - 1</c>.</summary>
    public int Count => _candidates.Count;

    public uint this[int index] => _candidates[index];

    public void RemoveAt(int index) => _candidates.RemoveAt(index);
}
