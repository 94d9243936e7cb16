using System.CommandLine;
using Blueback.Cli;

ProgramTiering.Apply(args); // before anything starts: it may replace this process
Signals.Install(); // first: a ^C while the program starts is a graceful stop too
StopPathWarmup.Start();

var root = CommandTree.Build();
// Ctrl+C and SIGTERM are Signals' (first a graceful stop, then an immediate exit), for every command: the token each
// command's action gets is the process's stop. (Given none, commands without a Signals of their own, such as list,
// repo gc, db checksum and token, ran on to their end through a ^C: the handler above had taken it from the runtime.)
var config = new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false };
var parse = root.Parse(args);
Output.Verbose = parse.Errors.Count == 0 && parse.GetValue(Output.VerboseOption);
int exit;
try
{
    // A wrong command line is exit 64 with the error and where the options are, never the data's exit 1.
    exit = parse.Errors.Count > 0 ? Output.UsageError(parse) : await parse.InvokeAsync(config, Signals.ProcessStop).ConfigureAwait(false);
}
catch (Exception ex) when (Signals.Stopped && ex is not OutOfMemoryException)
{
    Console.Error.WriteLine("blueback: cancelled.");
    exit = Output.Cancelled;
}
catch (OperationCanceledException ex)
{
    // Not a signal: a timeout (a server that stopped answering), said as such.
    Console.Error.WriteLine($"blueback: {ex.Message}");
    exit = Output.Failed;
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Blueback.Repository.RepositoryException or Blueback.Storage.StorageException or Blueback.Server.ServerConfigException)
{
    // An error of a file, a repository or the engine that a command let through (such as an unreadable --token-file):
    // its message names the object; no stack trace for an operator.
    Console.Error.WriteLine($"blueback: {Output.Describe(ex)}");
    exit = Output.Failed;
}
catch (Exception ex) when (ex is not OutOfMemoryException)
{
    // Every command maps the errors it expects to a message and exit 2; what reaches here is a bug: its message, and
    // with --verbose its stack trace for the report; still 2.
    Console.Error.WriteLine(Output.Verbose
        ? $"blueback: unexpected error (please report it with this text): {ex}"
        : $"blueback: unexpected error: {ex.Message} (run the command again with --verbose for the details to report).");
    exit = Output.Failed;
}
return Signals.Finish(exit);
