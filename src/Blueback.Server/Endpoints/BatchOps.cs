using System.Text;
using Blueback.Protocol;
using Blueback.Storage;
using Microsoft.AspNetCore.Http;

namespace Blueback.Server.Endpoints;

/// <summary>Checks one batch operation completely before the transaction starts, so a bad batch changes nothing.</summary>
internal static class BatchOps
{
    public static bool TryParse(StorageInstance inst, BatchOp op, int index, out (bool Put, Database Db, string Table, byte[] Key, byte[]? Value) parsed, out IResult? error)
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
        byte[] key;
        if (op.KeyBase64 is not null)
        {
            if (!TryBase64(op.KeyBase64, out key))
            {
                error = Problems.BadRequest($"ops[{index}]: keyBase64 is not valid base64.");
                return false;
            }
        }
        else
        {
            key = Encoding.UTF8.GetBytes(op.Key ?? "");
        }
        if (key.Length == 0 || key.Length > Routes.Limits.MaxKeyBytes)
        {
            error = Problems.BadRequest($"ops[{index}]: the key is {key.Length} bytes; keys are 1 to {Routes.Limits.MaxKeyBytes} bytes.");
            return false;
        }
        byte[]? value = null;
        if (put)
        {
            if (op.ValueBase64 is not null)
            {
                if (!TryBase64(op.ValueBase64, out value))
                {
                    error = Problems.BadRequest($"ops[{index}]: valueBase64 is not valid base64.");
                    return false;
                }
            }
            else if (op.Value is not null)
            {
                value = Encoding.UTF8.GetBytes(op.Value);
            }
            else
            {
                error = Problems.BadRequest($"ops[{index}]: a put needs \"value\" (text) or \"valueBase64\".");
                return false;
            }
            if (value.Length > Routes.Limits.MaxValueBytes)
            {
                error = Problems.BadRequest($"ops[{index}]: the value is {value.Length} bytes; values are at most {Routes.Limits.MaxValueBytes} bytes (16 MiB).");
                return false;
            }
        }
        parsed = (put, db, op.Table, key, value);
        return true;
    }

    private static bool TryBase64(string s, out byte[] bytes)
    {
        try
        {
            bytes = Convert.FromBase64String(s);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
