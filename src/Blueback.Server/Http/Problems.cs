using Blueback.Protocol;
using Blueback.Storage;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Http;

/// <summary>Every error leaves the server as application/problem+json with a message a person can act on.</summary>
internal static class Problems
{
    public const string ContentType = "application/problem+json";

    public static IResult Of(int status, string title, string detail, string? instance = null) =>
        Results.Json(new Problem { Status = status, Title = title, Detail = detail, Instance = instance }, ProtocolJson.Default.Problem, ContentType, status);

    public static IResult BadRequest(string detail) => Of(StatusCodes.Status400BadRequest, "Bad request", detail);

    public static IResult NotFound(string detail) => Of(StatusCodes.Status404NotFound, "Not found", detail);

    /// <summary>An instance that is being restored or was left offline by a restore.</summary>
    public static IResult Unavailable(Instances.InstanceSlot slot) =>
        Of(StatusCodes.Status503ServiceUnavailable, slot.State == Instances.InstanceState.Restoring ? "Instance being restored" : "Instance offline", slot.Unavailable);

    /// <summary>Maps an engine error to a status: the caller's fault (400), the server's state (503), or damage (500).</summary>
    public static IResult FromException(Exception ex) => ex switch
    {
        StorageLimitException => BadRequest(ex.Message),
        StorageTimeoutException => Of(StatusCodes.Status503ServiceUnavailable, "Busy", ex.Message + " Retry later."),
        InstancePoisonedException => Of(StatusCodes.Status503ServiceUnavailable, "Instance stopped", ex.Message),
        LogDiskFullException => Of(StatusCodes.Status503ServiceUnavailable, "Log volume full", ex.Message),
        ObjectDisposedException => Of(StatusCodes.Status503ServiceUnavailable, "Shutting down", "The server is shutting down; retry against it once it is back."),
        OperationCanceledException => Of(StatusCodes.Status503ServiceUnavailable, "Cancelled", "The request was cancelled (client gone or server shutting down)."),
        Storage.Standby.StandbyException => Of(StatusCodes.Status409Conflict, "Standby", ex.Message),
        MountedSetException => Of(StatusCodes.Status409Conflict, "Mounted backup set", ex.Message),
        PageNotFoundException => Of(StatusCodes.Status404NotFound, "No such page", ex.Message),
        DatabaseStateException => Of(StatusCodes.Status409Conflict, "Database state", ex.Message),
        StorageException => Of(StatusCodes.Status500InternalServerError, "Storage error", ex.Message),
        IOException => Of(StatusCodes.Status500InternalServerError, "Disk error", $"{ex.Message.TrimEnd('.')}. The disk under the instance failed this read or write; check it (dmesg, SMART), then retry."),
        _ => Of(StatusCodes.Status500InternalServerError, "Internal error", $"{ex.GetType().Name}: {ex.Message}"),
    };
}
