using Blueback.Storage.Format;
using Blueback.Storage.Paging;

namespace Blueback.Storage;

/// <summary>A database attached to an instance.</summary>
public sealed class Database
{
    private readonly Lock _headerLock = new();
    private DatabaseHeader _header;

    internal Database(StorageInstance instance, ushort id, string name, DatabaseFile file, DatabaseHeader header)
    {
        Instance = instance;
        Id = id;
        Name = name;
        File = file;
        _header = header;
    }

    public StorageInstance Instance { get; }
    public ushort Id { get; }
    public string Name { get; }
    public string Path => File.Path;
    public int PageSize => File.PageSize;

    /// <summary>The database's size in bytes (its file's; a mounted set's image's).</summary>
    public long SizeBytes => File.Length;
    public Signature Signature => Header.DatabaseSignature;
    internal DatabaseFile File { get; }
    internal bool Detached { get; set; }
    /// <summary>The last committed write view's <see cref="BTree.IPageWriter.Pieces"/>; kept in memory only,
    /// read and set by the one writer.</summary>
    internal BTree.PieceSpace PieceSpace { get; set; } = new();

    public DatabaseHeader Header
    {
        get
        {
            lock (_headerLock)
            {
                return _header;
            }
        }
    }

    /// <summary>Changes the header and writes both copies durably.</summary>
    internal void UpdateHeader(HeaderChange change)
    {
        lock (_headerLock)
        {
            var h = _header;
            change(ref h);
            File.WriteHeader(ref h);
            _header = h;
        }
    }

    public override string ToString() => $"{Name} ({Path})";
}

internal delegate void HeaderChange(ref DatabaseHeader header);
