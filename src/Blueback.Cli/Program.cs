using System.CommandLine;
using Blueback.Cli;
using Blueback.Cli.Commands;

Signals.Install(); // first: a ^C while the program starts is a graceful stop too
StopPathWarmup.Start();

var root = new RootCommand("Blueback: a transactional store whose databases stay online while they are backed up.");
root.Subcommands.Add(ServeCommand.Build());
root.Subcommands.Add(LoadCommand.Build());
root.Subcommands.Add(BackupCommand.Build());
root.Subcommands.Add(ShipCommand.Build());
root.Subcommands.Add(StandbyCommand.Build());
root.Subcommands.Add(RestoreCommand.Build());
root.Subcommands.Add(RepositoryCommands.List());
root.Subcommands.Add(RepositoryCommands.Verify());
root.Subcommands.Add(ProveCommand.Build());
root.Subcommands.Add(PolicyCommand.Build());
root.Subcommands.Add(RepositoryCommands.Repo());
root.Subcommands.Add(ForgetCommand.Build());
root.Subcommands.Add(TokenCommand.Build());
root.Subcommands.Add(DbCommands.Build());
root.Subcommands.Add(DemoCommand.Build());
// Long commands handle Ctrl+C and SIGTERM themselves (Signals): first a graceful stop, then an immediate exit.
var config = new InvocationConfiguration { ProcessTerminationTimeout = null };
int exit = await root.Parse(args).InvokeAsync(config, CancellationToken.None).ConfigureAwait(false);
return Signals.Finish(exit);
