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

    /// <summary>--verbose (on every command): an unexpected error is printed with its stack trace; without it, never.</summary>
    public static readonly Option<bool> VerboseOption = new("--verbose") { Description = "On an unexpected error, print its details (the stack trace) for a report.", Recursive = true };

    /// <summary>Whether the command line asked for --verbose.</summary>
    public static bool Verbose { get; set; }

    /// <summary>An error for the operator: its message, and its stack trace only with --verbose.</summary>
    public static string Describe(Exception ex) => Verbose ? ex.ToString() : ex.Message;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase), new LsnConverter(), new SignatureConverter() },
    };

    /// <summary>A command line the parser refused (exit 64; nothing was run): each error on a line of its own, an unknown
    /// option with the nearest one the command has, and last the last error with a one-line hint (the command whose
    /// help lists the options), never the whole help, which hid the error.</summary>
    public static int UsageError(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = c.Parent)
        {
            names.Insert(0, c.Command.Name);
        }
        names[0] = "blueback";
        var command = string.Join(' ', names);
        var known = parse.CommandResult.Command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)).Concat(parse.CommandResult.Command.Subcommands.Select(s => s.Name)).ToList();
        var lines = parse.Errors.Select(e => Describe(e.Message, known)).ToList();
        for (int i = 0; i < lines.Count - 1; i++)
        {
            Console.Error.WriteLine($"{command}: {lines[i]}");
        }
        Console.Error.WriteLine($"{command}: {lines[^1]} ('{command} --help' lists its options.)");
        return Usage;
    }

    /// <summary>A parse error, with "did you mean" where it names an unknown option close to a known one.</summary>
    private static string Describe(string message, IReadOnlyList<string> known)
    {
        const string Unrecognized = "Unrecognized command or argument '";
        if (message.StartsWith(Unrecognized, StringComparison.Ordinal) && message.IndexOf('\'', Unrecognized.Length) is int end and > 0)
        {
            var word = message[Unrecognized.Length..end];
            if (word.StartsWith('-') && Protocol.Suggestions.Nearest(word, known) is { } near)
            {
                return $"{message.TrimEnd('.')}: did you mean '{near}'?";
            }
        }
        return message;
    }

    public static void WriteJson(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>One JSON object on one line, for a program that reads a long-running command's output line by line.</summary>
    public static void WriteJsonLine(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, JsonLine));

    private static readonly JsonSerializerOptions JsonLine = new(Json) { WriteIndented = false };

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
