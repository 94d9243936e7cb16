using System.Text;
using Blueback.Protocol;
using Blueback.Server.Instances;

namespace Blueback.Server.Tests;

/// <summary>The batch body reader: UTF-8 and base64 keys and values decoded to the exact bytes, and every malformed
/// body refused with a message that says which operation and what is wrong.</summary>
public class BatchParserTests
{
    private static List<RawOp> Parse(string json)
    {
        Assert.True(BatchParser.TryParse(Encoding.UTF8.GetBytes(json), out var ops, out var error), error);
        return ops;
    }

    private static string Refused(string json)
    {
        Assert.False(BatchParser.TryParse(Encoding.UTF8.GetBytes(json), out _, out var error));
        return error;
    }

    [Fact]
    public void Keys_and_values_decode_to_their_bytes_whether_plain_escaped_or_base64()
    {
        var ops = Parse("""
            {"ops":[
              {"op":"put","database":"mailbox","table":"t","key":"k1","value":"h\u00e9llo \"q\""},
              {"op":"put","database":"mailbox","table":"t","keyBase64":"AAEC/w==","valueBase64":"3q2+7w=="},
              {"op":"delete","database":"public","table":"u","key":"gone","value":null}
            ], "comment": {"ignored": [1, 2]}}
            """);
        Assert.Equal(3, ops.Count);
        Assert.Equal(("put", "mailbox", "t"), (ops[0].Op, ops[0].Database, ops[0].Table));
        Assert.Equal("k1"u8.ToArray(), ops[0].Key);
        Assert.Equal(Encoding.UTF8.GetBytes("h\u00e9llo \"q\""), ops[0].Value);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, ops[1].Key);
        Assert.Equal(new byte[] { 0xde, 0xad, 0xbe, 0xef }, ops[1].Value);
        Assert.Equal("delete", ops[2].Op);
        Assert.Null(ops[2].Value);
    }

    [Theory]
    [InlineData("""[1,2]""", "must be a JSON object")]
    [InlineData("""{"ops":{}}""", "\"ops\" must be an array")]
    [InlineData("""{"ops":[{"op":"put"}, 7]}""", "ops[1] must be an object")]
    [InlineData("""{"ops":[{"op":"put","key":5}]}""", "ops[0].key must be a string")]
    [InlineData("""{"ops":[{"op":"put"},{"op":"put","keyBase64":"***"}]}""", "ops[1]: keyBase64 is not valid base64")]
    [InlineData("""{"ops":[{"op":"put","valueBase64":"a"}]}""", "ops[0]: valueBase64 is not valid base64")]
    [InlineData("""{"ops":[{"op":"put","colour":"red"}]}""", "unknown property \"colour\"")]
    [InlineData("""{"ops":[{"op":"put",""", "not valid JSON")]
    public void A_malformed_batch_is_refused_naming_the_operation_and_the_fault(string json, string expected) =>
        Assert.Contains(expected, Refused(json), StringComparison.Ordinal);

    [Fact]
    public void A_batch_over_the_operation_limit_is_refused()
    {
        var one = """{"op":"put","database":"d","table":"t","key":"k","value":"v"}""";
        Assert.Equal(Routes.Limits.MaxBatchOps, Parse("{\"ops\":[" + string.Join(',', Enumerable.Repeat(one, Routes.Limits.MaxBatchOps)) + "]}").Count);
        var error = Refused("{\"ops\":[" + string.Join(',', Enumerable.Repeat(one, Routes.Limits.MaxBatchOps + 1)) + "]}");
        Assert.Contains($"more than {Routes.Limits.MaxBatchOps} operations", error, StringComparison.Ordinal);
    }
}
