using System.CommandLine;
using Blueback.Cli.Commands;

namespace Blueback.Cli;

/// <summary>Every command of the program, in one tree (what Main parses, and what the tests enumerate).</summary>
internal static class CommandTree
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Blueback: a transactional store whose databases stay online while they are backed up.");
        root.Subcommands.Add(ServeCommand.Build());
        root.Subcommands.Add(ConfigCommand.Build());
        root.Subcommands.Add(LoadCommand.Build());
        root.Subcommands.Add(BackupCommand.Build());
        root.Subcommands.Add(ShipCommand.Build());
        root.Subcommands.Add(StandbyCommand.Build());
        root.Subcommands.Add(RestoreCommand.Build());
        root.Subcommands.Add(MountCommand.Build());
        root.Subcommands.Add(RepositoryCommands.List());
        root.Subcommands.Add(RepositoryCommands.Verify());
        root.Subcommands.Add(ProveCommand.Build());
        root.Subcommands.Add(PolicyCommand.Build());
        root.Subcommands.Add(RepositoryCommands.Repo());
        root.Subcommands.Add(ForgetCommand.Build());
        root.Subcommands.Add(TokenCommand.Build());
        root.Subcommands.Add(DbCommands.Build());
        root.Subcommands.Add(DemoCommand.Build());
        root.Options.Add(Output.VerboseOption);
        RefuseOptionsAsArguments(root);
        return root;
    }

    /// <summary>A word that starts with '-' where a command takes an argument (a file, a location, a name) is a mistyped
    /// option, not the argument: 'repo init --no-such-option' created a repository of that name, and 'db checksum
    /// --bad' looked for a file called so. (A path that does start with '-' is written ./-name.)</summary>
    private static void RefuseOptionsAsArguments(Command command)
    {
        foreach (var argument in command.Arguments)
        {
            argument.Validators.Add(r =>
            {
                foreach (var token in r.Tokens.Where(t => t.Value.Length > 1 && t.Value[0] == '-'))
                {
                    r.AddError($"Unrecognized command or argument '{token.Value}'.");
                }
            });
        }
        foreach (var sub in command.Subcommands)
        {
            RefuseOptionsAsArguments(sub);
        }
    }
}
