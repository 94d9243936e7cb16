using System.Net;
using Blueback.Protocol;

namespace Blueback.Client;

/// <summary>The server answered with an error; <see cref="Problem"/> says what and what to do.</summary>
public sealed class BluebackApiException : Exception
{
    /// <summary>An error answer: its message is the status and the problem's title and detail.</summary>
    /// <param name="status">The HTTP status of the answer.</param>
    /// <param name="problem">The problem the server sent (application/problem+json), or null.</param>
    /// <param name="fallback">Words for the message when there is no problem (the reason phrase).</param>
    public BluebackApiException(HttpStatusCode status, Problem? problem, string fallback)
        : base(problem is null ? $"{(int)status} {status}: {fallback}" : $"{(int)status} {problem.Title}: {problem.Detail}")
    {
        Status = status;
        Problem = problem;
    }

    /// <summary>The HTTP status of the answer (such as 404, 409, 503).</summary>
    public HttpStatusCode Status { get; }
    /// <summary>The problem the server sent, or null when the answer was not application/problem+json.</summary>
    public Problem? Problem { get; }
}
