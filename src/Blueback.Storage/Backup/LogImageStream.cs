namespace Blueback.Storage.Backup;

/// <summary>A verified log generation as a stream; reading it to the end marks it read in full.</summary>
internal sealed class LogImageStream(InstanceBackup backup, uint generation, ReadOnlyMemory<byte> data) : BackupReadStream
{
    private int _position;

    public override long Length => data.Length;

    protected override long ReadPosition => _position;

    public override int Read(Span<byte> buffer)
    {
        backup.ThrowIfAborted();
        int n = Math.Min(buffer.Length, data.Length - _position);
        data.Span.Slice(_position, n).CopyTo(buffer);
        _position += n;
        if (_position == data.Length)
        {
            backup.LogCompleted(generation);
        }
        return n;
    }
}
