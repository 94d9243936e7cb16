using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Http;

/// <summary>Runs a session route's handler and turns the exceptions its <c>map</c> knows into problem responses; any
/// other propagates (a 500 by the host). The restore and load routes share it, each with its own map.</summary>
internal static class Guarded
{
    public static IResult Run(Func<IResult> body, Func<Exception, IResult?> map)
    {
        try
        {
            return body();
        }
        catch (Exception ex) when (map(ex) is { } r)
        {
            return r;
        }
    }

    public static async Task<IResult> RunAsync(Func<Task<IResult>> body, Func<Exception, IResult?> map)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception ex) when (map(ex) is { } r)
        {
            return r;
        }
    }
}
