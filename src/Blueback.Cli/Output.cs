using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.Storage;
using Blueback.Storage.Format;

namespace Blueback.Cli;

/// <summary>Exit codes and printing shared by every command.</summary>
internal static class Output
{
    public const int Ok = 0;
    public const int ProblemFound = 1;
    public const int Failed = 2;
    public const int Cancelled = 130;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase), new LsnConverter(), new SignatureConverter() },
    };

    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Runs a command body, turning engine errors into a message on stderr and a non-zero exit code.</summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("blueback: cancelled.");
            return Cancelled;
        }
        catch (StorageException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Failed;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Failed;
        }
        catch (UnauthorizedAccessException ex)
        {
            Console.Error.WriteLine($"blueback: {ex.Message}");
            return Failed;
        }
    }

    private sealed class LsnConverter : JsonConverter<Lsn>
    {
        public override Lsn Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            Lsn.TryParse(reader.GetString() ?? "", out var l) ? l : throw new JsonException("bad log position");

        public override void Write(Utf8JsonWriter writer, Lsn value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }

    private sealed class SignatureConverter : JsonConverter<Signature>
    {
        public override Signature Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("signatures are output only");

        public override void Write(Utf8JsonWriter writer, Signature value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            writer.WriteString("id", value.Id.ToString("N"));
            writer.WriteString("created", value.Created);
            writer.WriteEndObject();
        }
    }
}
