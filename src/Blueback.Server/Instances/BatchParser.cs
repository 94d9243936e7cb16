using System.Text;
using System.Text.Json;

namespace Blueback.Server.Instances;

/// <summary>One operation of a batch as read from JSON; values and keys decoded straight to bytes.</summary>
internal sealed class RawOp
{
    public string? Op;
    public string? Database;
    public string? Table;
    public byte[]? Key;
    public byte[]? Value;
}

/// <summary>Reads a batch body with Utf8JsonReader: base64 values decode straight into byte arrays, with no
/// intermediate strings (a batch of 100 1 KiB values would otherwise make 100 140-byte-per-100 strings of garbage
/// per request). The shape is <see cref="Protocol.BatchRequest"/>.</summary>
internal static class BatchParser
{
    public static bool TryParse(ReadOnlySpan<byte> json, out List<RawOp> ops, out string error)
    {
        ops = [];
        error = "";
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the body must be a JSON object: {\"ops\":[...]}";
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!reader.ValueTextEquals("ops"u8))
                {
                    reader.Read();
                    reader.Skip();
                    continue;
                }
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                {
                    error = "\"ops\" must be an array";
                    return false;
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        error = $"ops[{ops.Count}] must be an object";
                        return false;
                    }
                    var op = new RawOp();
                    if (!ReadOp(ref reader, op, ops.Count, out error))
                    {
                        return false;
                    }
                    ops.Add(op);
                    if (ops.Count > Protocol.Routes.Limits.MaxBatchOps)
                    {
                        error = $"the batch has more than {Protocol.Routes.Limits.MaxBatchOps} operations";
                        return false;
                    }
                }
            }
            return true;
        }
        catch (JsonException ex)
        {
            error = $"the body is not valid JSON: {ex.Message}";
            return false;
        }
    }

    private static bool ReadOp(ref Utf8JsonReader reader, RawOp op, int index, out string error)
    {
        error = "";
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            if (reader.TokenType == JsonTokenType.Null)
            {
                continue;
            }
            if (reader.TokenType != JsonTokenType.String)
            {
                error = $"ops[{index}].{name} must be a string";
                return false;
            }
            switch (name)
            {
                case "op":
                    op.Op = reader.GetString();
                    break;
                case "database":
                    op.Database = reader.GetString();
                    break;
                case "table":
                    op.Table = reader.GetString();
                    break;
                case "key":
                    op.Key ??= Utf8(ref reader);
                    break;
                case "keyBase64":
                    if (!reader.TryGetBytesFromBase64(out op.Key))
                    {
                        error = $"ops[{index}]: keyBase64 is not valid base64";
                        return false;
                    }
                    break;
                case "value":
                    op.Value ??= Utf8(ref reader);
                    break;
                case "valueBase64":
                    if (!reader.TryGetBytesFromBase64(out op.Value))
                    {
                        error = $"ops[{index}]: valueBase64 is not valid base64";
                        return false;
                    }
                    break;
                default:
                    error = $"ops[{index}] has an unknown property \"{name}\" (known: op, database, table, key, keyBase64, value, valueBase64)";
                    return false;
            }
        }
        return true;
    }

    private static byte[] Utf8(ref Utf8JsonReader reader) =>
        reader.ValueIsEscaped ? Encoding.UTF8.GetBytes(reader.GetString()!) : reader.ValueSpan.ToArray();
}
