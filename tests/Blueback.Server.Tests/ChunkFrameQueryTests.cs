using Blueback.Server.Backups;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Tests;

/// <summary>The chunk frame routes' query: what a program may ask for, and a clear 400 text for the rest.</summary>
public class ChunkFrameQueryTests
{
    private static ChunkFrames.Request? Parse(string query, out string? problem) =>
        ChunkFrames.Parse(new QueryCollection(Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(query)), 0, out problem);

    [Theory]
    [InlineData("?chunk=8388608&cuts=8192&codec=none", false)]
    [InlineData("?chunk=8388608&cuts=8192&codec=none&unchanged=0", false)]
    [InlineData("?chunk=8388608&cuts=8192&codec=none&unchanged=1", true)]
    public void Unchanged_chunks_are_passed_over_only_when_asked(string query, bool unchanged)
    {
        var request = Parse(query, out var problem);
        Assert.Null(problem);
        Assert.Equal(unchanged, request!.Unchanged);
        Assert.Equal([8192L], request.Cuts);
    }

    [Theory]
    [InlineData("?chunk=8388608&codec=none&unchanged=yes", "unchanged must be 1")]
    [InlineData("?chunk=100&codec=none", "chunk must be")]
    [InlineData("?chunk=8388608&codec=lz4", "codec 'lz4'")]
    public void A_bad_query_is_named(string query, string expected)
    {
        Assert.Null(Parse(query, out var problem));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }
}
