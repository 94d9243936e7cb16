using System.Text;

namespace Blueback.Protocol.Tests;

public class PercentEncodingTests
{
    [Theory]
    [InlineData("plain")]
    [InlineData("with/slash")]
    [InlineData("ключ")]
    [InlineData("sp ace?&#%")]
    public void Text_keys_round_trip(string key)
    {
        var encoded = PercentEncoding.Encode(Encoding.UTF8.GetBytes(key));
        Assert.DoesNotContain('/', encoded);
        Assert.True(PercentEncoding.TryDecode(encoded, out var bytes));
        Assert.Equal(key, Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Every_byte_round_trips()
    {
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        Assert.True(PercentEncoding.TryDecode(PercentEncoding.Encode(all), out var bytes));
        Assert.Equal(all, bytes);
    }

    [Theory]
    [InlineData("bad%zz")]
    [InlineData("bad%4")]
    [InlineData("%")]
    public void Malformed_escapes_are_refused(string segment) => Assert.False(PercentEncoding.TryDecode(segment, out _));

    [Fact]
    public void Unescaped_unicode_in_a_segment_decodes_as_utf8() =>
        Assert.Equal(Encoding.UTF8.GetBytes("é😀"), PercentEncoding.TryDecode("é😀", out var b) ? b : null);

    [Fact]
    public void Routes_encode_instance_database_table_and_key()
    {
        Assert.Equal("/v1/instances/store/databases/mailbox/tables/t%20x/keys/a%2Fb", Routes.Key("store", "mailbox", "t x", "a/b"u8));
        Assert.Equal("/v1/instances/store/batch", Routes.Batch("store"));
    }
}
