using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Blueback.Client;

namespace Blueback.Client.Tests;

/// <summary>How an error answer becomes a <see cref="BluebackApiException"/>: the server's problem document when it
/// sent one (status, title and detail in the message), the status and reason otherwise; and the pooled writer
/// request bodies are built in.</summary>
public class ApiErrorTests
{
    private static async Task<BluebackApiException?> EnsureAsync(HttpStatusCode status, string? body, string mediaType, string? reason = null)
    {
        using var response = new HttpResponseMessage(status) { ReasonPhrase = reason };
        if (body is not null)
        {
            response.Content = new StringContent(body, Encoding.UTF8, mediaType);
        }
        try
        {
            await BluebackClient.EnsureAsync(response, CancellationToken.None);
            return null;
        }
        catch (BluebackApiException ex)
        {
            return ex;
        }
    }

    [Fact]
    public async Task A_success_is_not_an_error()
    {
        Assert.Null(await EnsureAsync(HttpStatusCode.OK, "{}", "application/json"));
        Assert.Null(await EnsureAsync(HttpStatusCode.NoContent, null, "application/json"));
    }

    [Fact]
    public async Task A_problem_document_gives_the_exception_its_status_title_and_detail()
    {
        var ex = await EnsureAsync(HttpStatusCode.Conflict,
            """{"type":"about:blank","title":"Backup in progress","status":409,"detail":"Instance 'store' has a backup session already: wait for it or abort it."}""",
            "application/problem+json");
        Assert.NotNull(ex);
        Assert.Equal(HttpStatusCode.Conflict, ex.Status);
        Assert.Equal("Backup in progress", ex.Problem!.Title);
        Assert.Equal(409, ex.Problem.Status);
        Assert.Equal("409 Backup in progress: Instance 'store' has a backup session already: wait for it or abort it.", ex.Message);
    }

    [Fact]
    public async Task Without_a_problem_document_the_message_is_the_status_and_its_reason()
    {
        var plain = await EnsureAsync(HttpStatusCode.BadGateway, "<html>proxy error</html>", "text/html", "Bad Gateway");
        Assert.NotNull(plain);
        Assert.Null(plain.Problem);
        Assert.Equal("502 BadGateway: Bad Gateway", plain.Message);

        // A problem type whose body is not JSON (a proxy that got it wrong) falls back the same way.
        var broken = await EnsureAsync(HttpStatusCode.ServiceUnavailable, "{\"title\":", "application/problem+json", "Service Unavailable");
        Assert.NotNull(broken);
        Assert.Null(broken.Problem);
        Assert.Equal("503 ServiceUnavailable: Service Unavailable", broken.Message);
    }

    [Fact]
    public void The_pooled_writer_keeps_every_byte_as_it_grows_past_its_first_buffer()
    {
        using var buffer = new PooledBufferWriter(initial: 16);
        var values = Enumerable.Range(0, 500).Select(i => new string((char)('a' + (i % 26)), i % 300)).ToArray();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var v in values)
            {
                json.WriteStringValue(v);
            }
            json.WriteEndArray();
        }
        Assert.True(buffer.WrittenMemory.Length > 16 * 1024);
        Assert.Equal(values, JsonSerializer.Deserialize<string[]>(buffer.WrittenMemory.Span));

        using var direct = new PooledBufferWriter(initial: 4);
        var span = direct.GetSpan(100);
        Assert.True(span.Length >= 100);
        "abc"u8.CopyTo(span);
        direct.Advance(3);
        direct.Write(new byte[5000]);
        Assert.Equal(5003, direct.WrittenMemory.Length);
        Assert.Equal("abc"u8.ToArray(), direct.WrittenMemory[..3].ToArray());
    }
}
