using System.Net;
using System.Net.Sockets;
using System.Text;
using Blueback.Protocol;
using Blueback.Server.Observability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blueback.Server.Tests;

/// <summary>An alert's change reaches people by mail through an SMTP relay (here a local sink the test starts, speaking
/// just enough SMTP); a relay that refuses for now (4xx) is tried again.</summary>
public class AlertMailTests
{
    [Fact(Timeout = 30_000)]
    public async Task An_alert_is_mailed_with_its_subject_and_message_and_a_busy_relay_is_tried_again()
    {
        await using var sink = SmtpSink.Start(failFirst: true);
        using var mail = new AlertMail(new MailConfig { Host = "127.0.0.1", Port = sink.Port, From = "blueback@host.example", To = ["ops@example.org"], FirstRetrySeconds = 0.1 }, NullLogger.Instance);
        mail.Enqueue(new AlertEvent
        {
            Time = DateTime.UtcNow, Event = "raised", Server = "db1",
            Alert = new AlertInfo { Id = "abcdef012345", Severity = "critical", Subject = "policy nightly", Message = "the last full backup failed: the repository '/r' cannot be read" },
        });
        var message = QuotedPrintable(await sink.WaitForMessageAsync());
        Assert.Contains("RCPT TO:<ops@example.org>", sink.Commands, StringComparer.Ordinal);
        Assert.Contains("Subject: [blueback critical] policy nightly: raised", message, StringComparison.Ordinal);
        Assert.Contains("the repository '/r' cannot be read", message, StringComparison.Ordinal);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (mail.Counts.Delivered == 0)
        {
            await Task.Delay(20, bound.Token);
        }
        Assert.Equal(2, sink.Sessions); // the first refused with 451, the second taken
    }

    /// <summary>The body as a mail reader shows it (the client sends it quoted-printable: "=27" for "'", "=" at a soft break).</summary>
    private static string QuotedPrintable(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text.Replace("=\r\n", "", StringComparison.Ordinal).Replace("=\n", "", StringComparison.Ordinal), "=([0-9A-F]{2})",
            m => ((char)Convert.ToInt32(m.Groups[1].Value, 16)).ToString());

    /// <summary>A local SMTP sink: 220, then 250 to EHLO/HELO, MAIL and RCPT, 354 to DATA and the message up to the lone
    /// dot, 221 to QUIT. With failFirst the first session's MAIL gets 451 (try again later).</summary>
    private sealed class SmtpSink : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource<string> _message = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly bool _failFirst;
        private readonly Task _loop;

        private SmtpSink(bool failFirst)
        {
            _failFirst = failFirst;
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public static SmtpSink Start(bool failFirst) => new(failFirst);

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public List<string> Commands { get; } = [];

        public int Sessions { get; private set; }

        public Task<string> WaitForMessageAsync() => _message.Task.WaitAsync(TimeSpan.FromSeconds(20));

        private async Task LoopAsync()
        {
            try
            {
                while (true)
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Sessions++;
                    await SessionAsync(client.GetStream(), refuse: _failFirst && Sessions == 1);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
            {
                // stopped
            }
        }

        private async Task SessionAsync(NetworkStream stream, bool refuse)
        {
            using var reader = new StreamReader(stream, Encoding.ASCII);
            await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
            await writer.WriteLineAsync("220 sink ESMTP");
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                lock (Commands)
                {
                    Commands.Add(line);
                }
                var verb = line.Split(' ', ':')[0].ToUpperInvariant();
                if (verb == "MAIL" && refuse)
                {
                    await writer.WriteLineAsync("451 try again later");
                }
                else if (verb == "DATA")
                {
                    await writer.WriteLineAsync("354 go on");
                    var body = new StringBuilder();
                    while (await reader.ReadLineAsync(_stop.Token) is { } l && l != ".")
                    {
                        body.AppendLine(l);
                    }
                    await writer.WriteLineAsync("250 taken");
                    _message.TrySetResult(body.ToString());
                }
                else if (verb == "QUIT")
                {
                    await writer.WriteLineAsync("221 bye");
                    return;
                }
                else
                {
                    await writer.WriteLineAsync("250 ok");
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
            _stop.Dispose();
        }
    }
}
