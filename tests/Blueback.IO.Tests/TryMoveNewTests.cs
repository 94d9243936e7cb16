using Blueback.IO;

namespace Blueback.IO.Tests;

/// <summary>The create-only naming under repository chain entries and locks: of writers racing for one name exactly
/// one wins and the file holds its bytes (File.Move without overwrite let two win, the later replacing the earlier).</summary>
public class TryMoveNewTests
{
    [Fact(Timeout = 120_000)]
    public async Task Of_writers_racing_for_a_name_exactly_one_wins_and_its_bytes_stay()
    {
        using var dir = new TempDir("move-new");
        for (int round = 0; round < 300; round++)
        {
            var name = Path.Combine(dir.Path, $"entry-{round}");
            using var start = new Barrier(6);
            var racers = Enumerable.Range(0, 6).Select(i => Task.Factory.StartNew(() =>
            {
                var tmp = $"{name}.{i}.tmp";
                File.WriteAllText(tmp, $"writer {i}");
                start.SignalAndWait(TimeSpan.FromSeconds(30));
                bool won = FileSystem.TryMoveNew(tmp, name);
                // The loser's file is left for its caller to remove; the winner's temporary name is gone.
                Assert.Equal(!won, File.Exists(tmp));
                return won ? i : -1;
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
            var winners = (await Task.WhenAll(racers).WaitAsync(TimeSpan.FromSeconds(60))).Where(i => i >= 0).ToList();
            Assert.True(winners.Count == 1, $"round {round}: {winners.Count} writers won");
            Assert.Equal($"writer {winners[0]}", await File.ReadAllTextAsync(name));
        }
    }

    [Fact]
    public void A_taken_name_is_refused_and_both_files_are_left_as_they_were()
    {
        using var dir = new TempDir("move-new");
        var name = Path.Combine(dir.Path, "taken");
        var tmp = Path.Combine(dir.Path, "new.tmp");
        File.WriteAllText(name, "first");
        File.WriteAllText(tmp, "second");
        Assert.False(FileSystem.TryMoveNew(tmp, name));
        Assert.Equal("first", File.ReadAllText(name));
        Assert.Equal("second", File.ReadAllText(tmp));
    }
}
