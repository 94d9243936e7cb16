namespace Blueback.Cli;

/// <summary>Socket settings for the commands that are clients of a server (backup, restore).</summary>
internal static class ClientSockets
{
    /// <summary>The runtime's switch (read once, when the first socket is made) to run socket continuations on its
    /// event threads instead of handing each to the thread pool.</summary>
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>A backup receives gigabytes on one connection, tens of kilobytes per wake-up: with a thread-pool hop
    /// per wake-up, the program made about 130,000 context switches per 4 GB and left less of two cores for the
    /// server and for hashing and compressing; inline, about 40,000, and the backup ran about 10% faster
    /// (docs/benchmarks.md, issue 5). Safe here because nothing in these commands blocks after a socket wait: their
    /// CPU work (hashing, compression, writes) runs on pool or dedicated threads. Not for <c>serve</c> or
    /// <c>demo</c>, which host the server: a request handler must never hold an event thread. A value the user set
    /// is left alone.</summary>
    public static void PreferInlineCompletions(string[] args)
    {
        if (args.Length > 0 && args[0] is "backup" or "restore" && Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }
    }
}
