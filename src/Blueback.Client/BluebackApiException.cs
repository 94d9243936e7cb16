using System.Net;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>The server answered with an error; <see cref="Problem"/> says what and what to do.</summary>
public sealed class BluebackApiException : Exception
{
    public BluebackApiException(HttpStatusCode status, Problem? problem, string fallback)
        : base(problem is null ? $"{(int)status} {status}: {fallback}" : $"{(int)status} {problem.Title}: {problem.Detail}")
    {
        Status = status;
        Problem = problem;
    }

    public HttpStatusCode Status { get; }
    public Problem? Problem { get; }
}
