using System.CommandLine;
using Blueback.Client;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback token create|list|revoke</c>: manage a server's tokens with an admin token.</summary>
internal static class TokenCommand
{
    public static Command Build()
    {
        var cmd = new Command("token", "Manage the server's bearer tokens (needs an admin token).");
        var role = new Option<string>("--role") { Description = "read, write, backup, restore or admin.", Required = true };
        var name = new Option<string?>("--name") { Description = "What the token is for (shown by list and in the server's log)." };
        var create = new Command("create", "Create a token and print it (once: the server keeps only a salted hash).") { role, name };
        Wire(create, async (client, pr, ct) =>
        {
            var t = await client.CreateTokenAsync(pr.GetValue(role)!, pr.GetValue(name), ct).ConfigureAwait(false);
            Console.Error.WriteLine($"Created token {t.Id} ({t.Name}, role {t.Role}). It is printed once, below; store it now (a file readable only by its user).");
            Console.WriteLine(t.Token);
        });
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var list = new Command("list", "List the tokens (ids, names, roles; never the secrets).") { json };
        Wire(list, async (client, pr, ct) =>
        {
            var tokens = await client.ListTokensAsync(ct).ConfigureAwait(false);
            if (pr.GetValue(json))
            {
                Output.WriteJson(tokens.Select(t => new { id = t.Id, name = t.Name, role = t.Role, created = t.Created }));
                return;
            }
            foreach (var t in tokens)
            {
                Console.WriteLine($"{t.Id}  {t.Role,-8} {t.Created:yyyy-MM-dd HH:mm}  {t.Name}");
            }
        });
        var id = new Argument<string>("ID") { Description = "The token's id (from list)." };
        var revoke = new Command("revoke", "Revoke a token: the next call that uses it gets 401.") { id };
        Wire(revoke, async (client, pr, ct) =>
        {
            await client.RevokeTokenAsync(pr.GetValue(id)!, ct).ConfigureAwait(false);
            Console.WriteLine($"Revoked token {pr.GetValue(id)}.");
        });
        cmd.Subcommands.Add(create);
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(revoke);
        return cmd;
    }

    private static void Wire(Command command, Func<BluebackClient, ParseResult, CancellationToken, Task> body)
    {
        var server = new Option<string>("--server") { Description = "Server address: http://HOST:PORT or unix:/path.sock.", DefaultValueFactory = _ => "http://127.0.0.1:7420" };
        var tokens = new TokenOptions();
        command.Options.Add(server);
        tokens.AddTo(command);
        command.SetAction(async (pr, ct) =>
        {
            try
            {
                using var client = new BluebackClient(pr.GetValue(server)!, TimeSpan.FromSeconds(30), tokens.Resolve(pr), tokens.Trust(pr));
                await body(client, pr, ct).ConfigureAwait(false);
                return Output.Ok;
            }
            catch (Exception ex) when (ex is BluebackApiException or HttpRequestException or IOException or ArgumentException)
            {
                Console.Error.WriteLine($"blueback token: {ex.Message}");
                return Output.Failed;
            }
        });
    }
}
