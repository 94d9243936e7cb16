using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Http;

internal static class Body
{
    /// <summary>A request body in a pooled buffer: large bodies must not land on the large-object heap per
    /// request (each such allocation brings the next full garbage collection closer).</summary>
    public sealed class Pooled : IDisposable
    {
        private byte[]? _buffer;

        public Pooled(byte[]? buffer, int length, bool tooBig)
        {
            _buffer = buffer;
            Length = length;
            TooBig = tooBig;
        }

        public int Length { get; }
        public bool TooBig { get; }
        public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);
        public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, Length);

        public void Dispose()
        {
            if (_buffer is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }
    }

    public static async Task<Pooled> ReadPooledAsync(HttpRequest request, long limit, CancellationToken ct)
    {
        if (request.ContentLength is { } declared && declared > limit)
        {
            return new Pooled(null, 0, true);
        }
        var pool = System.Buffers.ArrayPool<byte>.Shared;
        var buffer = pool.Rent((int)Math.Min(limit + 1, request.ContentLength ?? 64 * 1024) + 1);
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        pool.Return(buffer);
                        return new Pooled(null, 0, true);
                    }
                    var bigger = pool.Rent((int)Math.Min(limit + 1, (long)buffer.Length * 2));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    pool.Return(buffer);
                    buffer = bigger;
                }
                int n = await request.Body.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                length += n;
            }
        }
        catch
        {
            pool.Return(buffer);
            throw;
        }
        if (length > limit)
        {
            pool.Return(buffer);
            return new Pooled(null, 0, true);
        }
        return new Pooled(buffer, length, false);
    }
}
