using System.Text.RegularExpressions;

namespace Blueback.Server.Tests;

/// <summary>The checks a newcomer can run on the code's shape (issue 36): no source file over 600 lines (split by
/// concept instead), and the server never reads its child programs by the text they print (their exit codes and their
/// typed <c>--json</c> records are the contract).</summary>
public partial class CodeShapeTests
{
    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Blueback.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Blueback.slnx above {AppContext.BaseDirectory}");
    }

    private static IEnumerable<string> Sources(string under) =>
        Directory.EnumerateFiles(Path.Combine(Root(), under), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    [Fact]
    public void No_source_file_is_over_600_lines()
    {
        var files = Sources("src").ToList();
        Assert.NotEmpty(files);
        var long_ = files.Select(f => (File: Path.GetRelativePath(Root(), f), Lines: File.ReadLines(f).Count())).Where(f => f.Lines > 600).ToList();
        Assert.True(long_.Count == 0, "split by concept: " + string.Join(", ", long_.Select(f => $"{f.File} ({f.Lines} lines)")));
    }

    [GeneratedRegex(@"\b(Err|Out|Output|Reason|StandardError|StandardOutput)\s*\.\s*(Contains|StartsWith|EndsWith|IndexOf)\s*\(")]
    private static partial Regex ChildTextMatch();

    [Fact]
    public void The_server_never_reads_a_child_program_by_its_text()
    {
        var files = Sources(Path.Combine("src", "Blueback.Server")).ToList();
        Assert.NotEmpty(files);
        var hits = files.SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(Root(), f), Line: i + 1, Text: line.Trim())))
            .Where(l => ChildTextMatch().IsMatch(l.Text)).ToList();
        Assert.True(hits.Count == 0, "read its exit code (Protocol.Programs.ExitCodes) or its --json record instead: " + string.Join("; ", hits.Select(h => $"{h.File}:{h.Line}: {h.Text}")));
    }
}
