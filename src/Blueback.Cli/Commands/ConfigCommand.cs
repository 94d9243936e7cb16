using System.CommandLine;
using Blueback.Server;

namespace Blueback.Cli.Commands;

/// <summary><c>blueback config check FILE</c>: the server's config file checked as <c>serve</c> reads it, without
/// starting anything. Exit 0 when it is valid; 2 when it is not (the file is wrong, not the command line: 64 stays a
/// wrong command line), with the key and line at fault.</summary>
internal static class ConfigCommand
{
    public static Command Build()
    {
        var file = new Argument<string>("FILE") { Description = "The config file (JSON) to check." };
        var check = new Command("check", "Check a server config file as 'serve --config' reads it: unknown keys, wrong types, absurd schedules. Exit 0 valid, 2 not.") { file };
        check.SetAction(pr =>
        {
            var path = pr.GetValue(file)!;
            try
            {
                var config = ServerConfig.Load(path);
                Console.WriteLine($"{path}: valid: {config.Instances.Count} instance{(config.Instances.Count == 1 ? "" : "s")} ({string.Join(", ", config.Instances.Select(i => i.Name))}), {config.Policies.Count} polic{(config.Policies.Count == 1 ? "y" : "ies")}.");
                return Output.Ok;
            }
            catch (ServerConfigException ex)
            {
                Console.Error.WriteLine($"blueback config check: {ex.Message}");
                return Output.Failed;
            }
        });
        return new Command("config", "The server's config file.") { check };
    }
}
