using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;

namespace Blueback.Server;

/// <summary>The config file and a policy's JSON read strictly: an unknown key anywhere (with the nearest known key
/// suggested: "incremetal" → "incremental") or a value of the wrong type is refused naming the key and its line,
/// never ignored (a typo silently turned a policy's incrementals off).</summary>
internal static partial class StrictJson
{
    /// <summary>The types the config file is made of, whose keys a suggestion is taken from.</summary>
    private static readonly Type[] Known =
    [
        typeof(ServerConfig), typeof(ServerLimits), typeof(InstanceConfig), typeof(DatabaseConfig), typeof(FaultDrill),
        typeof(Protocol.PolicyDefinition), typeof(Protocol.PolicyRepository), typeof(Protocol.PolicyRetention), typeof(Protocol.PolicyProof),
        typeof(NotificationsConfig), typeof(WebhookConfig), typeof(MailConfig), typeof(Repair.RepairRepositoryConfig),
    ];

    public static T Parse<T>(string json, JsonTypeInfo<T> info, string where)
    {
        T? value;
        try
        {
            value = JsonSerializer.Deserialize(json, info);
        }
        catch (JsonException ex)
        {
            throw new ServerConfigException(Describe(ex, where));
        }
        return value ?? throw new ServerConfigException($"{where} holds null; it must be a JSON object.");
    }

    private static string Describe(JsonException ex, string where)
    {
        var line = ex.LineNumber is { } l ? $", line {l + 1}" : "";
        var path = ex.Path is { Length: > 2 } p ? p[2..] : null; // "$.policies[0].full" → "policies[0].full"
        var message = ex.Message;
        int cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut < 0)
        {
            cut = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        }
        if (cut > 0)
        {
            message = message[..cut];
        }
        if (Unmapped().Match(ex.Message) is { Success: true } u)
        {
            var key = u.Groups[1].Value;
            var at = path is not null && path.EndsWith(key, StringComparison.Ordinal) ? path : key;
            var near = Protocol.Suggestions.Nearest(key, KeysOf(u.Groups[2].Value));
            return $"{where}{line}: unknown key \"{at}\"{(near is null ? "" : $"; did you mean \"{near}\"?")} (docs/server.md and docs/console.md list the keys).";
        }
        if (Converted().Match(ex.Message) is { Success: true } c && path is not null)
        {
            return $"{where}{line}: \"{path}\" must be {Expected(c.Groups[1].Value)}.";
        }
        return $"{where}{line}: not valid JSON{(path is null ? "" : $" at \"{path}\"")}: {message}";
    }

    private static string Expected(string type) => type switch
    {
        _ when type.Contains("Int", StringComparison.Ordinal) => "a whole number",
        _ when type.Contains("Double", StringComparison.Ordinal) => "a number",
        _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
        _ when type.Contains("String", StringComparison.Ordinal) => "a string (in double quotes)",
        _ when type.Contains("List", StringComparison.Ordinal) => "a list ([ ... ])",
        _ => "an object ({ ... })",
    };

    private static IEnumerable<string> KeysOf(string typeName)
    {
        var type = Known.FirstOrDefault(t => t.FullName == typeName);
        return type is null ? [] : ServerConfigJson.Default.GetTypeInfo(type)?.Properties.Select(p => p.Name) ?? [];
    }

    /// <summary>The line (from 1) of the value at <paramref name="path"/> ("policies[0].full") in <paramref name="json"/>,
    /// or null where it is not there.</summary>
    public static int? LineOf(string json, string path)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var stack = new List<(bool Array, int Index, string? Name)>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        if (stack.Count > 0)
                        {
                            stack[^1] = (false, 0, reader.GetString());
                            if (PathOf(stack) == path)
                            {
                                return 1 + bytes.AsSpan(0, (int)reader.TokenStartIndex).Count((byte)'\n');
                            }
                        }
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        if (stack.Count > 0 && stack[^1].Array)
                        {
                            stack[^1] = (true, stack[^1].Index + 1, null);
                            if (PathOf(stack) == path)
                            {
                                return 1 + bytes.AsSpan(0, (int)reader.TokenStartIndex).Count((byte)'\n');
                            }
                        }
                        stack.Add((reader.TokenType == JsonTokenType.StartArray, -1, null));
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        stack.RemoveAt(stack.Count - 1);
                        break;
                    default:
                        if (stack.Count > 0 && stack[^1].Array)
                        {
                            stack[^1] = (true, stack[^1].Index + 1, null);
                        }
                        break;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }
        return null;
    }

    private static string PathOf(List<(bool Array, int Index, string? Name)> stack)
    {
        var sb = new StringBuilder();
        foreach (var (array, index, name) in stack)
        {
            if (array)
            {
                sb.Append('[').Append(index.ToString(CultureInfo.InvariantCulture)).Append(']');
            }
            else if (name is not null)
            {
                sb.Append(sb.Length == 0 ? "" : ".").Append(name);
            }
        }
        return sb.ToString();
    }

    [GeneratedRegex("The JSON property '([^']*)' could not be mapped to any \\.NET member contained in type '([^']*)'")]
    private static partial Regex Unmapped();

    [GeneratedRegex("could not be converted to ([^ .]+(?:\\.[^ .]+)*)")]
    private static partial Regex Converted();
}
