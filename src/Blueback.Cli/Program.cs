using System.CommandLine;
using Blueback.Cli.Commands;

var root = new RootCommand("Blueback: a transactional store whose databases stay online while they are backed up.");
root.Subcommands.Add(DbCommands.Build());
root.Subcommands.Add(DemoCommand.Build());
return await root.Parse(args).InvokeAsync(new InvocationConfiguration(), CancellationToken.None).ConfigureAwait(false);
