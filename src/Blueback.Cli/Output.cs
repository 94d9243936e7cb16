using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using System.Text.Json.Serialization;
using Blueback.Protocol.Programs;
using Blueback.Storage;
using Blueback.Storage.Format;

namespace Blueback.Cli;

/// <summary>Exit codes and printing shared by every command.</summary>
internal static class Output
{
    public const int Ok = ExitCodes.Ok;
    public const int ProblemFound = ExitCodes.ProblemFound;
    public const int Failed = ExitCodes.Failed;
    public const int NotFound = ExitCodes.NotFound;
    public const int Usage = ExitCodes.Usage;
    public const int Cancelled = ExitCodes.Cancelled;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase), new LsnConverter(), new SignatureConverter() },
    };

    /// <summary>A command line the parser refused: each error, and the command whose help lists the options (the whole
    /// help printed under an error hid it). Nothing was run.</summary>
    public static int UsageError(ParseResult parse)
    {
        foreach (var error in parse.Errors)
        {
            Console.Error.WriteLine($"blueback: {error.Message}");
        }
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent)
        {
            names.Insert(0, c.Command.Name);
        }
        names[0] = "blueback";
        Console.Error.WriteLine($"Run '{string.Join(' ', names)} --help' for its options.");
        return Usage;
    }

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
