using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Blueback.Client;
using Blueback.Protocol;
using Blueback.Protocol.Wire;

namespace Blueback.EndToEnd.Tests;

/// <summary>The restore API against a real server, called the wrong way: each mistake gets the 4xx that says what
/// to do, nothing is half-written, and the server keeps serving.</summary>
public class RestoreApiTests
{
    private static BeginRestoreRequest Request(string mode) => new()
    {
        Mode = mode,
        Repository = "test",
        Sets = ["0123456789abcdef0123456789abcdef"],
        SourceInstance = "store",
        GenLow = 1,
        GenHigh = 2,
    };

    [Fact(Timeout = 120_000)]
    public async Task Calls_out_of_order_or_malformed_get_clear_4xx_and_an_abort_before_any_write_leaves_the_instance_untouched()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var http = TestToken.Http(server.Url, TimeSpan.FromSeconds(30));
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("store", "mailbox", "t", "k"u8.ToArray(), "before"u8.ToArray());

        // Begin: a name the server serves online cannot be restored "new"; an unknown one cannot be replaced.
        var online = await http.PostAsJsonAsync(Routes.BeginRestore("store"), Request("new"), ProtocolJson.Default.BeginRestoreRequest);
        Assert.Equal(HttpStatusCode.Conflict, online.StatusCode);
        Assert.Contains("--as", await online.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var unknown = await http.PostAsJsonAsync(Routes.BeginRestore("nosuch"), Request("replace"), ProtocolJson.Default.BeginRestoreRequest);
        Assert.Equal(HttpStatusCode.Conflict, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsync(Routes.BeginRestore("x"), new StringContent("{nope", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync(Routes.BeginRestore("x"), new BeginRestoreRequest { Mode = "sideways", Sets = ["a"], GenLow = 1, GenHigh = 1 }, ProtocolJson.Default.BeginRestoreRequest)).StatusCode);
        var badStop = Request("new");
        badStop.Stop = "not a stop";
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsJsonAsync(Routes.BeginRestore("x"), badStop, ProtocolJson.Default.BeginRestoreRequest)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(Routes.Restore("0123"))).StatusCode);

        // In place: the instance answers 503 while the session holds it, the other instance serves.
        await using (var session = await c.BeginRestoreAsync("store", Request("replace")))
        {
            var refused = await Assert.ThrowsAsync<BluebackApiException>(() => c.GetAsync("store", "mailbox", "t", "k"u8.ToArray()));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
            Assert.Contains("being restored", refused.Message, StringComparison.Ordinal);
            await c.PutAsync("directory", "directory", "t", "k"u8.ToArray(), "ok"u8.ToArray());
            var again = await http.PostAsJsonAsync(Routes.BeginRestore("store"), Request("replace"), ProtocolJson.Default.BeginRestoreRequest);
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

            // Recovery before any file, uploads without a length or a hash, or with the wrong hash.
            var early = await http.PostAsync(Routes.RestoreRecover(session.Id), null);
            Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
            Assert.Contains("no file", await early.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            var bytes = new byte[8192];
            using (var noHash = new HttpRequestMessage(HttpMethod.Put, Routes.RestoreLog(session.Id, 1)) { Content = new ByteArrayContent(bytes) })
            {
                Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(noHash)).StatusCode);
            }
            using (var noLength = new HttpRequestMessage(HttpMethod.Put, Routes.RestoreLog(session.Id, 1)) { Content = new StreamContent(new ChunkedOnly(bytes)) })
            {
                noLength.Headers.Add(Routes.Sha256Header, Convert.ToHexStringLower(SHA256.HashData(bytes)));
                noLength.Headers.TransferEncodingChunked = true;
                Assert.Equal(HttpStatusCode.LengthRequired, (await http.SendAsync(noLength)).StatusCode);
            }
            using (var wrong = new HttpRequestMessage(HttpMethod.Put, Routes.RestoreLog(session.Id, 1)) { Content = new ByteArrayContent(bytes) })
            {
                wrong.Headers.Add(Routes.Sha256Header, new string('0', 64));
                var answer = await http.SendAsync(wrong);
                Assert.Equal(HttpStatusCode.UnprocessableEntity, answer.StatusCode);
                Assert.Contains("SHA-256", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
            Assert.Equal(0, (await session.RefreshAsync()).FilesWritten);
            Assert.Empty(Directory.GetFiles(Path.Combine(dir["data"], "store", "logs"), "*.part"));
            var badImage = await Assert.ThrowsAsync<BluebackApiException>(() => session.UploadDatabaseAsync("mailbox", bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)), (s, ct) => s.WriteAsync(bytes, ct).AsTask()));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, badImage.Status);
            Assert.Contains("not a database image", badImage.Message, StringComparison.Ordinal);
        }

        // The session was aborted by DisposeAsync. A database image was attempted, so the instance is offline and
        // says why; run again, a restore would start over. Abort of an unknown or finished session is a no-op.
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync(Routes.Restore("0123456789abcdef0123456789abcdef"))).StatusCode);
        var status = (await c.StatusAsync()).Instances.Single(i => i.Name == "store");
        Assert.Equal("offline", status.State);
        Assert.Contains("run the restore again", status.Detail, StringComparison.Ordinal);
        Assert.Equal("ok"u8.ToArray(), await c.GetAsync("directory", "directory", "t", "k"u8.ToArray()));
    }

    [Fact(Timeout = 120_000)]
    public async Task A_restore_aborted_before_its_first_file_gives_the_instance_back_untouched()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var c = new BluebackClient(server.Url);
        await c.PutAsync("store", "mailbox", "t", "k"u8.ToArray(), "before"u8.ToArray());
        await using (var session = await c.BeginRestoreAsync("store", Request("replace")))
        {
            await session.AbortAsync();
        }
        Assert.Equal("before"u8.ToArray(), await c.GetAsync("store", "mailbox", "t", "k"u8.ToArray()));
        await using (var fresh = await c.BeginRestoreAsync("brand-new", Request("new")))
        {
            Assert.Contains((await c.StatusAsync()).Instances, i => i.Name == "brand-new" && i.State == "restoring");
        }
        Assert.DoesNotContain((await c.StatusAsync()).Instances, i => i.Name == "brand-new");
        Assert.False(Directory.Exists(Path.Combine(dir["data"], "brand-new")), "a new instance that received nothing leaves no directory");
    }

    /// <summary>An upload as chunk frames (what the program sends for a format-2 set: each chunk as stored, zstd or raw,
    /// with its content's SHA-256): every frame checked as it arrives, a bad one refused with a 422 naming the file and
    /// the chunk, nothing left half-written, and a good one taken.</summary>
    [Fact(Timeout = 120_000)]
    public async Task Chunk_frame_uploads_are_checked_chunk_by_chunk_and_a_bad_one_is_named()
    {
        using var dir = new TempDir();
        using var server = await ServerProcess.StartAsync(dir["data"]);
        using var http = TestToken.Http(server.Url, TimeSpan.FromSeconds(30));
        using var c = new BluebackClient(server.Url);
        await using var session = await c.BeginRestoreAsync("framed", Request("new"));
        Assert.True(session.TakesChunkFrames);
        byte[][] chunks = [new byte[8192], new byte[4096]];
        Array.Fill(chunks[0], (byte)'a');
        Random.Shared.NextBytes(chunks[1]); // does not compress: sent raw
        var digest = Repository.Chunks.ChunkDigest.Of(chunks.Select(SHA256.HashData));
        const string sizes = "8192,4096";
        var good = new[] { Frame(chunks[0], compress: true), Frame(chunks[1], compress: false) };
        Assert.True(good[0].Length < 1024, "the first chunk goes compressed");

        async Task<(HttpStatusCode Status, string Body)> Put(byte[] body, string? chunkSizes = sizes, string sha = "", string encoding = Routes.ChunkFramesEncoding)
        {
            using var put = new HttpRequestMessage(HttpMethod.Put, Routes.RestoreLog(session.Id, 1)) { Content = new StreamContent(new ChunkedOnly(body)) };
            put.Headers.TransferEncodingChunked = true;
            put.Headers.Add(Routes.Sha256Header, sha.Length == 0 ? digest : sha);
            put.Headers.Add(Routes.UploadEncodingHeader, encoding);
            if (chunkSizes is not null)
            {
                put.Headers.Add(Routes.ChunkSizesHeader, chunkSizes);
            }
            using var answer = await http.SendAsync(put);
            return (answer.StatusCode, await answer.Content.ReadAsStringAsync());
        }

        var whole = good[0].Concat(good[1]).ToArray();
        Assert.Equal(HttpStatusCode.BadRequest, (await Put(whole, encoding: "gzip")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Put(whole, chunkSizes: null)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await Put(whole, chunkSizes: "100000000")).Status); // larger than any chunk

        var damaged = whole.ToArray();
        damaged[good[0].Length + ChunkFrame.HeaderSize + 100] ^= 1;
        var crc = await Put(damaged);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, crc.Status);
        Assert.Contains("log generation 1, chunk 2 of 2 (bytes 8,192 to 12,288)", crc.Body, StringComparison.Ordinal);
        Assert.Contains("CRC32C", crc.Body, StringComparison.Ordinal);

        var otherContent = Frame(chunks[1].Reverse().ToArray(), compress: false); // a whole frame, but not of this chunk
        Array.Copy(good[1], ChunkFrame.HeaderSize - 32, otherContent, ChunkFrame.HeaderSize - 32, 32);
        var hash = await Put([.. good[0], .. otherContent]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, hash.Status);
        Assert.Contains("does not hash", hash.Body, StringComparison.Ordinal);

        var cut = await Put(whole[..^10]);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, cut.Status);
        Assert.Contains("chunk 2 of 2", cut.Body, StringComparison.Ordinal);
        Assert.Contains("ended", cut.Body, StringComparison.Ordinal);
        Assert.Contains("goes on after its 2 chunk(s)", (await Put([.. whole, 0])).Body, StringComparison.Ordinal);
        var wrongDigest = await Put(whole, sha: new string('0', 64));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, wrongDigest.Status);
        Assert.Contains("chunk digest", wrongDigest.Body, StringComparison.Ordinal);
        Assert.Equal(0, (await session.RefreshAsync()).FilesWritten);
        Assert.Empty(Directory.GetFiles(dir["data"], "*.part", SearchOption.AllDirectories));

        Assert.Equal(HttpStatusCode.NoContent, (await Put(whole)).Status);
        Assert.Equal(1, (await session.RefreshAsync()).FilesWritten);
        var written = Assert.Single(Directory.GetFiles(Path.Combine(dir["data"], "framed"), "*", SearchOption.AllDirectories), f => new FileInfo(f).Length == 12288);
        byte[] expected = [.. chunks[0], .. chunks[1]];
        Assert.Equal(expected, await File.ReadAllBytesAsync(written)); // decompressed, in order
    }

    /// <summary>A chunk frame of <paramref name="raw"/>: zstd-compressed, or as it is.</summary>
    private static byte[] Frame(byte[] raw, bool compress)
    {
        var payload = raw;
        if (compress)
        {
            var codec = Repository.Compression.Codec.ByName("zstd-1");
            var into = new byte[codec.MaxStoredSize(raw.Length)];
            payload = into[..codec.Compress(raw, into)];
        }
        var frame = new byte[ChunkFrame.HeaderSize + payload.Length];
        new ChunkFrame(ChunkFrameKind.Data, compress ? WireCodec.Zstd : WireCodec.None, raw.Length, payload.Length, IO.Crc32C.Compute(0, payload), SHA256.HashData(raw)).Write(frame);
        payload.CopyTo(frame, ChunkFrame.HeaderSize);
        return frame;
    }

    /// <summary>A body stream of unknown length, so that the request goes chunked.</summary>
    private sealed class ChunkedOnly(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
