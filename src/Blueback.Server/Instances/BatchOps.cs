using Blueback.Protocol;
using Blueback.Server.Http;
using Blueback.Storage;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Instances;

/// <summary>Checks one batch operation completely before the transaction starts, so a bad batch changes nothing.</summary>
internal static class BatchOps
{
    public static bool TryValidate(StorageInstance inst, RawOp op, int index, out (bool Put, Database Db, string Table, byte[] Key, byte[]? Value) parsed, out IResult? error)
    {
        parsed = default;
        error = null;
        bool put = string.Equals(op.Op, "put", StringComparison.Ordinal);
        if (!put && !string.Equals(op.Op, "delete", StringComparison.Ordinal))
        {
            error = Problems.BadRequest($"ops[{index}]: op must be \"put\" or \"delete\", not \"{op.Op}\".");
            return false;
        }
        if (string.IsNullOrEmpty(op.Database) || string.IsNullOrEmpty(op.Table))
        {
            error = Problems.BadRequest($"ops[{index}]: database and table are required.");
            return false;
        }
        if (!Resolve.Database(inst, op.Database, out var db, out error))
        {
            return false;
        }
        var key = op.Key ?? [];
        if (key.Length == 0 || key.Length > Routes.Limits.MaxKeyBytes)
        {
            error = Problems.BadRequest($"ops[{index}]: the key is {key.Length} bytes; keys are 1 to {Routes.Limits.MaxKeyBytes} bytes.");
            return false;
        }
        if (put && op.Value is null)
        {
            error = Problems.BadRequest($"ops[{index}]: a put needs \"value\" (text) or \"valueBase64\".");
            return false;
        }
        if (op.Value is { Length: > Routes.Limits.MaxValueBytes })
        {
            error = Problems.BadRequest($"ops[{index}]: the value is {op.Value.Length} bytes; values are at most {Routes.Limits.MaxValueBytes} bytes (16 MiB).");
            return false;
        }
        parsed = (put, db, op.Table, key, op.Value);
        return true;
    }
}
