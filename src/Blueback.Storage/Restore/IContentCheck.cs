namespace Blueback.Storage.Restore;

/// <summary>A digest other than a flat SHA-256 that a restored file is checked against as its bytes arrive: the
/// repository's chunk digest, whose rule (and the chunk boundaries it needs) the engine does not know. It feeds the
/// digest the bytes in order and compares the hex it ends with. Made where both are known
/// (Backup/Restoring/ChunkDigestCheck.cs).</summary>
public interface IContentCheck
{
    /// <summary>What the digest is called in a message ("chunk digest").</summary>
    string Name { get; }

    /// <summary>A fresh digest for one pass over the file's bytes.</summary>
    IContentDigest Start();
}

/// <summary>One pass of an <see cref="IContentCheck"/> over a file's bytes.</summary>
public interface IContentDigest : IDisposable
{
    void Append(ReadOnlySpan<byte> data);

    /// <summary>The digest (lowercase hex); null when fewer bytes came than it expects.</summary>
    string? Finish();
}
