using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Blueback.EndToEnd.Tests.Packaging;

/// <summary>The three packages as a .NET user gets them (issue 36, docs/packages.md): packed from the repository into a
/// temporary source, the tool installed from it into a tool path and run (its version, a full backup of a live server,
/// the list of the repository), and a console program outside the repository built against the Blueback.Client package
/// and run against the same server. Restores see only the temporary source and the NuGet source the repository uses,
/// with a package folder of their own, so a package cached by an earlier run cannot stand in for the one just packed.</summary>
public sealed partial class PackagingTests
{
    private static readonly TimeSpan PackBound = TimeSpan.FromMinutes(12);
    private static readonly TimeSpan InstallBound = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(2);

    [Fact(Timeout = 2_400_000)]
    [Trait("Category", "Slow")]
    public async Task The_packages_install_and_work_as_a_dotnet_user_gets_them()
    {
        var repoRoot = RepositoryRoot();
        var version = PackageVersion(repoRoot);
        using var tmp = new TempDir("pack");
        var pkgs = Directory.CreateDirectory(tmp["pkgs"]).FullName;
        var build = new Dictionary<string, string>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            // No build server or node left running with this test's output pipes after a child ends.
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0",
        };
        // What installs and restores the packed packages gets a package folder of its own: one cached by an earlier
        // run under the same version would stand in for the one just packed. (Not the pack itself: it restores the
        // repository's projects, whose obj/ would then name a folder this test deletes.)
        var env = new Dictionary<string, string>(build)
        {
            ["NUGET_PACKAGES"] = tmp["nuget-packages"],
            ["NUGET_HTTP_CACHE_PATH"] = tmp["nuget-http-cache"],
        };

        // Pack. Release, in the repository's own bin/obj (the test run builds Debug), without build servers.
        foreach (var project in new[] { "src/Blueback.Protocol", "src/Blueback.Client", "src/Blueback.Cli" })
        {
            await RunAsync("dotnet", ["pack", Path.Combine(repoRoot, project), "-c", "Release", "-o", pkgs, "-nodeReuse:false", "-p:UseSharedCompilation=false"], PackBound, build, repoRoot);
        }
        var packed = Directory.GetFiles(pkgs, "*.nupkg").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(new[] { $"Blueback.Client.{version}.nupkg", $"Blueback.Protocol.{version}.nupkg", $"blueback.{version}.nupkg", $"blueback.linux-x64.{version}.nupkg" }.Order(StringComparer.Ordinal), packed);
        foreach (var library in new[] { "Blueback.Client", "Blueback.Protocol" })
        {
            using var zip = ZipFile.OpenRead(Path.Combine(pkgs, $"{library}.{version}.nupkg"));
            var entries = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Contains($"lib/net10.0/{library}.dll", entries);
            Assert.Contains($"lib/net10.0/{library}.xml", entries); // the XML documentation travels with the package
            Assert.Contains("README.md", entries);
        }

        // The source list: the temporary source, and whatever the repository restores from (nothing else).
        var sources = await RepositorySourcesAsync(repoRoot, build);
        Assert.NotEmpty(sources);
        var config = new StringBuilder("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <clear />\n");
        config.Append(FormattableString.Invariant($"    <add key=\"packed\" value=\"{pkgs}\" />\n"));
        foreach (var (name, url) in sources)
        {
            config.Append(FormattableString.Invariant($"    <add key=\"{name}\" value=\"{url}\" />\n"));
        }
        config.Append("  </packageSources>\n</configuration>\n");
        var nugetConfig = tmp["nuget.config"];
        await File.WriteAllTextAsync(nugetConfig, config.ToString());

        // The tool, as `dotnet tool install --tool-path DIR blueback --add-source DIR` installs it.
        var tools = tmp["tools"];
        await RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "blueback", "--add-source", pkgs, "--version", version, "--configfile", nugetConfig], InstallBound, env, tmp.Path);
        var blueback = Path.Combine(tools, "blueback");
        Assert.True(File.Exists(blueback), $"no {blueback} after the install");
        var shown = await RunAsync(blueback, ["--version"], RunBound, env, tmp.Path);
        Assert.StartsWith(version, shown.Trim(), StringComparison.Ordinal);
        var help = await RunAsync(blueback, ["--help"], RunBound, env, tmp.Path);
        Assert.Contains("backup", help, StringComparison.Ordinal);

        // One real job with the installed tool: a full backup of a live server into a new repository, then its list.
        using var server = await ServerProcess.StartAsync(tmp["data"]);
        var repo = tmp["repo"];
        await RunAsync(blueback, ["repo", "init", repo], RunBound, env, tmp.Path);
        await RunAsync(blueback, ["backup", "--server", server.Url, "--instance", "store", "--type", "full", "--repo", repo], RunBound, env, tmp.Path);
        var list = await RunAsync(blueback, ["list", "--repo", repo, "--json"], RunBound, env, tmp.Path);
        using (var sets = JsonDocument.Parse(list))
        {
            var set = Assert.Single(sets.RootElement.EnumerateArray());
            Assert.Equal("full", set.GetProperty("type").GetString());
        }

        // A program outside the repository (none of its Directory.Build.props or central versions apply) built
        // against the Blueback.Client package, run against the same server.
        var app = Directory.CreateDirectory(tmp["app"]).FullName;
        await File.WriteAllTextAsync(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Blueback.Client" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), ClientProgram);
        await RunAsync("dotnet", ["restore", "--configfile", nugetConfig], InstallBound, env, app);
        await RunAsync("dotnet", ["build", "--no-restore", "-nodeReuse:false", "-p:UseSharedCompilation=false"], PackBound, env, app);
        var output = await RunAsync("dotnet", ["run", "--no-build", "--", server.Url], RunBound, env, app);
        Assert.Contains("bad address refused: ArgumentException", output, StringComparison.Ordinal);
        Assert.Contains("read back: hello from a package", output, StringComparison.Ordinal);
        Assert.Contains("instance store: online", output, StringComparison.Ordinal);
        Assert.Contains("commit at ", output, StringComparison.Ordinal);
        Assert.Matches(@"backed up 2 images and [1-9][0-9]* log generations", output);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(app, "copy"), "*.bdb").Length);
    }

    /// <summary>What an author of a program using the package writes first: parse an address, write, read, look at the
    /// status; then the backup program docs/packages.md shows (the token comes from BLUEBACK_TOKEN, which the test run
    /// sets).</summary>
    private const string ClientProgram = """
        using Blueback.Client;
        using Blueback.Protocol;

        try
        {
            using var bad = new BluebackClient("ftp://example");
            Console.WriteLine("bad address accepted");
            return 1;
        }
        catch (ArgumentException ex)
        {
            Console.WriteLine($"bad address refused: {ex.GetType().Name}");
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var client = new BluebackClient(args[0], TimeSpan.FromSeconds(30));
        if (!await client.IsHealthyAsync(cts.Token))
        {
            Console.WriteLine("server not healthy");
            return 1;
        }
        var key = System.Text.Encoding.UTF8.GetBytes("package/key");
        await client.PutAsync("store", "mailbox", "packaged", key, System.Text.Encoding.UTF8.GetBytes("hello from a package"), cts.Token);
        var value = await client.GetAsync("store", "mailbox", "packaged", key, cts.Token);
        Console.WriteLine($"read back: {(value is null ? "(absent)" : System.Text.Encoding.UTF8.GetString(value))}");
        var commit = await client.BatchAsync("store", new BatchRequest { Ops = [new BatchOp { Op = "delete", Database = "mailbox", Table = "packaged", Key = "package/key" }] }, cts.Token);
        Console.WriteLine($"commit at {commit.Lsn}");
        foreach (var instance in (await client.StatusAsync(cts.Token)).Instances)
        {
            Console.WriteLine($"instance {instance.Name}: {instance.State}");
        }
        if (await client.GetAsync("store", "mailbox", "packaged", key, cts.Token) is not null)
        {
            Console.WriteLine("the deleted key is still there");
            return 1;
        }

        // The backup program of docs/packages.md, as written there.
        Directory.CreateDirectory("copy");
        int images = 0, logs = 0;
        await using var session = await client.BeginBackupAsync("store", "full");
        foreach (var db in session.Databases)
        {
            await using var image = await session.OpenDatabaseImageAsync(db.Name);
            await using var file = File.Create(Path.Combine("copy", db.Name + ".bdb"));
            await image.CopyToAsync(file);
            images++;
        }
        foreach (var log in (await session.ListLogsAsync()).Generations)
        {
            await using var stream = await session.OpenLogAsync(log.Generation);
            await using var file = File.Create(Path.Combine("copy", log.File));
            await stream.CopyToAsync(file);
            logs++;
        }
        await session.EndAsync();
        Console.WriteLine($"backed up {images} images and {logs} log generations");
        return 0;
        """;

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Blueback.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No Blueback.slnx above {AppContext.BaseDirectory}.");
    }

    private static string PackageVersion(string repoRoot)
    {
        var props = File.ReadAllText(Path.Combine(repoRoot, "Directory.Build.props"));
        var m = VersionElement().Match(props);
        Assert.True(m.Success, "Directory.Build.props gives the packages no <Version>");
        return m.Groups[1].Value;
    }

    /// <summary>The enabled sources `dotnet nuget list source` shows from the repository (its nuget.config files and
    /// the user's), as (name, url).</summary>
    private static async Task<List<(string Name, string Url)>> RepositorySourcesAsync(string repoRoot, Dictionary<string, string> env)
    {
        var text = await RunAsync("dotnet", ["nuget", "list", "source", "--format", "Detailed"], RunBound, env, repoRoot);
        var sources = new List<(string, string)>();
        var lines = text.Split('\n');
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            var m = SourceLine().Match(lines[i]);
            if (m.Success && m.Groups[2].Value == "Enabled")
            {
                sources.Add((m.Groups[1].Value.Trim(), lines[i + 1].Trim()));
            }
        }
        return sources;
    }

    /// <summary>Runs a program to its end within <paramref name="bound"/> (killing its whole tree past it) and returns
    /// its standard output; a non-zero exit fails the test with everything it printed.</summary>
    private static async Task<string> RunAsync(string file, string[] args, TimeSpan bound, Dictionary<string, string> env, string workingDirectory)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        var started = Stopwatch.StartNew();
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Fail($"{file} {string.Join(' ', args)} ran past {bound} and was killed.\n{Said(stdout, stderr)}");
        }
        var said = Said(stdout, stderr);
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode} after {started.Elapsed.TotalSeconds:F1} s.\n{said}");
        lock (stdout)
        {
            return stdout.ToString();
        }
    }

    private static string Said(StringBuilder stdout, StringBuilder stderr)
    {
        lock (stdout)
        {
            lock (stderr)
            {
                return $"stdout:\n{stdout}\nstderr:\n{stderr}";
            }
        }
    }

    [GeneratedRegex(@"<Version>([^<]+)</Version>")]
    private static partial Regex VersionElement();

    [GeneratedRegex(@"^\s*\d+\.\s+(.+?)\s+\[(Enabled|Disabled)\]")]
    private static partial Regex SourceLine();
}
