using Blueback.Protocol.Wire;

namespace Blueback.Protocol.Tests;

public class ChunkWireTests
{
    [Fact]
    public void Chunks_end_every_chunk_size_and_at_each_cut_and_cover_the_file()
    {
        // An image of 2 header pages, 3.5 chunks of pages and a trailer page (8 KiB pages, 1 MiB chunks).
        long page = 8192, chunk = 1 << 20, length = 2 * page + 3 * chunk + chunk / 2 + page;
        long[] cuts = [2 * page, length - page];
        var chunks = ChunkLayout.Chunks(length, (int)chunk, cuts).ToList();
        Assert.Equal([(0L, (int)(2 * page)), (2 * page, (int)chunk), (2 * page + chunk, (int)chunk), (2 * page + 2 * chunk, (int)chunk), (2 * page + 3 * chunk, (int)(chunk / 2)), (length - page, (int)page)], chunks);
        Assert.Equal(length, chunks.Sum(c => (long)c.Length));
    }

    [Fact]
    public void A_range_that_starts_on_a_chunk_is_cut_as_the_whole_file_is()
    {
        long length = 10_000_000;
        long[] cuts = [16384, length - 8192];
        var whole = ChunkLayout.Chunks(length, 1 << 20, cuts).ToList();
        var from = whole[3].Offset;
        var part = new List<(long, int)>();
        for (long at = from; at < length;)
        {
            int n = ChunkLayout.Length(at, length, 1 << 20, cuts);
            part.Add((at, n));
            at += n;
        }
        Assert.Equal(whole.Skip(3), part);
    }

    [Fact]
    public void A_frame_header_reads_back_as_written()
    {
        var hash = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var frame = new ChunkFrame(ChunkFrameKind.Data, WireCodec.Zstd, 8 << 20, 12345, 0xdeadbeef, hash);
        var bytes = new byte[ChunkFrame.HeaderSize];
        frame.Write(bytes);
        var back = ChunkFrame.TryRead(bytes, out var problem);
        Assert.Null(problem);
        Assert.Equal(frame.Kind, back!.Value.Kind);
        Assert.Equal(frame.RawSize, back.Value.RawSize);
        Assert.Equal(frame.PayloadSize, back.Value.PayloadSize);
        Assert.Equal(frame.PayloadCrc32C, back.Value.PayloadCrc32C);
        Assert.Equal(hash, back.Value.ContentHash);
    }

    [Fact]
    public void An_unchanged_chunk_is_a_header_alone()
    {
        var bytes = new byte[ChunkFrame.HeaderSize];
        new ChunkFrame(ChunkFrameKind.Unchanged, WireCodec.Zstd, 8 << 20, 0, 0, new byte[32]).Write(bytes);
        var back = ChunkFrame.TryRead(bytes, out var problem);
        Assert.Null(problem);
        Assert.Equal(ChunkFrameKind.Unchanged, back!.Value.Kind);
        Assert.Equal(8 << 20, back.Value.RawSize);
        Assert.Equal(0, back.Value.PayloadSize);
    }

    [Theory]
    [InlineData(0, 1, 0, 100, 50)] // bad magic
    [InlineData(1, 3, 0, 100, 50)] // unknown kind
    [InlineData(1, 0, 7, 100, 50)] // unknown codec
    [InlineData(1, 0, 1, 0, 0)] // empty chunk
    [InlineData(1, 0, 1, 100 << 20, 50)] // above the largest chunk
    [InlineData(1, 0, 1, 4096, 200_000)] // a payload far larger than its content
    [InlineData(1, 1, 1, 4096, 10)] // a known chunk with a payload
    [InlineData(1, 2, 1, 4096, 10)] // an unchanged chunk with a payload
    [InlineData(1, 0, 0, 4096, 10)] // an uncompressed payload of another size
    public void Bytes_that_are_not_a_frame_are_refused_before_any_buffer_is_sized(int magic, int kind, int codec, int raw, int payload)
    {
        var bytes = new byte[ChunkFrame.HeaderSize];
        new ChunkFrame(ChunkFrameKind.Data, WireCodec.Zstd, 4096, 10, 0, new byte[32]).Write(bytes);
        if (magic == 0)
        {
            bytes[0] = (byte)'X';
        }
        bytes[4] = (byte)kind;
        bytes[5] = (byte)codec;
        BitConverter.TryWriteBytes(bytes.AsSpan(8), raw);
        BitConverter.TryWriteBytes(bytes.AsSpan(12), payload);
        Assert.Null(ChunkFrame.TryRead(bytes, out var problem));
        Assert.NotNull(problem);
    }
}
