using System.CommandLine;

namespace Blueback.Cli.Commands;

/// <summary>How a client command finds its token: <c>--token-file F</c>, else a local server's data directory
/// (<c>--data DIR</c>: its DIR/auth/admin.token, for an operator on the server's machine), else the BLUEBACK_TOKEN
/// variable. Options given on the command line win over the environment.</summary>
internal sealed class TokenOptions
{
    public Option<string?> TokenFile { get; } = new("--token-file") { Description = "File holding the bearer token (default: $BLUEBACK_TOKEN, or --data's admin token)." };
    public Option<string?> Data { get; } = new("--data") { Description = "A local server's data directory: use its admin token (DIR/auth/admin.token)." };
    public Option<string?> Ca { get; } = new("--ca") { Description = "For https://: trust server certificates issued by this CA (PEM) instead of the system's roots." };
    public Option<string?> Pin { get; } = new("--pin") { Description = "For https://: trust exactly the server certificate with this SHA-256 fingerprint (hex, colons allowed)." };

    public void AddTo(Command command)
    {
        command.Options.Add(TokenFile);
        command.Options.Add(Data);
        command.Options.Add(Ca);
        command.Options.Add(Pin);
    }

    /// <summary>The trust the options ask for, or null for the system's roots.</summary>
    public Client.ServerTrust? Trust(ParseResult pr) =>
        pr.GetValue(Pin) is { } pin ? Client.ServerTrust.FromPin(pin) : pr.GetValue(Ca) is { } ca ? Client.ServerTrust.FromCaFile(ca) : null;

    /// <summary>The token, or null to let the client use BLUEBACK_TOKEN (or go without).</summary>
    public string? Resolve(ParseResult pr)
    {
        if (pr.GetValue(TokenFile) is { } file)
        {
            return Read(file, "--token-file");
        }
        if (pr.GetValue(Data) is { } data)
        {
            return Read(Path.Combine(data, "auth", "admin.token"), "--data");
        }
        return null; // the client then takes BLUEBACK_TOKEN
    }

    private static string Read(string path, string option)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{option}: cannot read the token in '{path}': {ex.Message}", ex);
        }
    }
}
