using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Blueback.IO;
using Blueback.Storage.Format;

namespace Blueback.Storage.Tests;

/// <summary>The on-disk formats are pinned: a change to a size, an offset or the checksum rule fails here
/// first, not in a restore years later.</summary>
public class FormatGoldenTests
{
    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Fact]
    public void Page_header_layout()
    {
        Assert.Equal(32, Unsafe.SizeOf<PageHeader>());
        Assert.Equal(PageHeader.SizeOf, Unsafe.SizeOf<PageHeader>());
        Assert.Equal(0, Off<PageHeader>(nameof(PageHeader.Checksum)));
        Assert.Equal(4, Off<PageHeader>(nameof(PageHeader.PageNumber)));
        Assert.Equal(8, Off<PageHeader>(nameof(PageHeader.Lsn)));
        Assert.Equal(16, Off<PageHeader>(nameof(PageHeader.Type)));
        Assert.Equal(18, Off<PageHeader>(nameof(PageHeader.CellCount)));
        Assert.Equal(20, Off<PageHeader>(nameof(PageHeader.FreeStart)));
        Assert.Equal(22, Off<PageHeader>(nameof(PageHeader.FreeEnd)));
        Assert.Equal(24, Off<PageHeader>(nameof(PageHeader.Next)));
        Assert.Equal(28, Off<PageHeader>(nameof(PageHeader.Prev)));
    }

    [Fact]
    public void Database_header_layout()
    {
        Assert.Equal(512, Unsafe.SizeOf<DatabaseHeader>());
        Assert.Equal(24, Unsafe.SizeOf<Signature>());
        Assert.Equal(32, Unsafe.SizeOf<BackupInfo>());
        Assert.Equal(32, Off<DatabaseHeader>(nameof(DatabaseHeader.Magic)));
        Assert.Equal(36, Off<DatabaseHeader>(nameof(DatabaseHeader.FormatVersion)));
        Assert.Equal(40, Off<DatabaseHeader>(nameof(DatabaseHeader.PageSize)));
        Assert.Equal(44, Off<DatabaseHeader>(nameof(DatabaseHeader.State)));
        Assert.Equal(48, Off<DatabaseHeader>(nameof(DatabaseHeader.DatabaseSignature)));
        Assert.Equal(72, Off<DatabaseHeader>(nameof(DatabaseHeader.LogSignature)));
        Assert.Equal(96, Off<DatabaseHeader>(nameof(DatabaseHeader.GenMinRequired)));
        Assert.Equal(100, Off<DatabaseHeader>(nameof(DatabaseHeader.GenMaxRequired)));
        Assert.Equal(104, Off<DatabaseHeader>(nameof(DatabaseHeader.ConsistentLsn)));
        Assert.Equal(112, Off<DatabaseHeader>(nameof(DatabaseHeader.ConsistentTicks)));
        Assert.Equal(120, Off<DatabaseHeader>(nameof(DatabaseHeader.Revision)));
        Assert.Equal(128, Off<DatabaseHeader>(nameof(DatabaseHeader.LastFull)));
        Assert.Equal(160, Off<DatabaseHeader>(nameof(DatabaseHeader.LastIncremental)));
        Assert.Equal(192, Off<DatabaseHeader>(nameof(DatabaseHeader.LastDifferential)));
        Assert.Equal(224, Off<DatabaseHeader>(nameof(DatabaseHeader.LastCopy)));
        Assert.Equal(256, Off<DatabaseHeader>(nameof(DatabaseHeader.CurrentBackup)));
        Assert.Equal(0, Off<BackupInfo>(nameof(BackupInfo.MarkLsn)));
        Assert.Equal(8, Off<BackupInfo>(nameof(BackupInfo.MarkTicks)));
        Assert.Equal(16, Off<BackupInfo>(nameof(BackupInfo.GenLow)));
        Assert.Equal(20, Off<BackupInfo>(nameof(BackupInfo.GenHigh)));
        Assert.Equal(0x42444242u, DatabaseHeader.MagicValue);
        Assert.Equal(1, (int)DatabaseState.Clean);
        Assert.Equal(2, (int)DatabaseState.Dirty);
        Assert.Equal(3, (int)DatabaseState.RestoredAwaitingRecovery);
    }

    [Fact]
    public void Log_and_checkpoint_header_layouts()
    {
        Assert.Equal(128, Unsafe.SizeOf<LogFileHeader>());
        Assert.Equal(12, Off<LogFileHeader>(nameof(LogFileHeader.Generation)));
        Assert.Equal(16, Off<LogFileHeader>(nameof(LogFileHeader.LogSignature)));
        Assert.Equal(40, Off<LogFileHeader>(nameof(LogFileHeader.CreatedTicks)));
        Assert.Equal(48, Off<LogFileHeader>(nameof(LogFileHeader.PreviousCreatedTicks)));
        Assert.Equal(56, Off<LogFileHeader>(nameof(LogFileHeader.CheckpointLsn)));
        Assert.Equal(64, Off<LogFileHeader>(nameof(LogFileHeader.FileSize)));
        Assert.Equal(68, Off<LogFileHeader>(nameof(LogFileHeader.AttachmentCount)));
        Assert.Equal(32, Unsafe.SizeOf<LogAttachment>());
        Assert.Equal(8, Off<LogAttachment>(nameof(LogAttachment.DatabaseSignature)));
        Assert.Equal(128, Unsafe.SizeOf<CheckpointHeader>());
        Assert.Equal(16, Off<CheckpointHeader>(nameof(CheckpointHeader.Revision)));
        Assert.Equal(24, Off<CheckpointHeader>(nameof(CheckpointHeader.LogSignature)));
        Assert.Equal(48, Off<CheckpointHeader>(nameof(CheckpointHeader.CheckpointLsn)));
        Assert.Equal(288, Unsafe.SizeOf<CheckpointAttachment>());
        Assert.Equal(32, Off<CheckpointAttachment>(nameof(CheckpointAttachment.Path)));
    }

    [Fact]
    public void Page_checksum_folds_in_the_page_number()
    {
        var page = new byte[8192];
        for (int i = 0; i < page.Length; i++)
        {
            page[i] = (byte)(i * 7);
        }
        uint at5 = Checksum.Page(page, 5);
        uint at6 = Checksum.Page(page, 6);
        Assert.NotEqual(at5, at6);
        // CRC32C (Castagnoli) itself, against the standard check value of "123456789".
        Assert.Equal(0xE3069283u, Crc32C.Compute(0, "123456789"u8));
    }

    [Fact]
    public void Lsn_orders_by_generation_then_offset_and_round_trips()
    {
        Assert.True(new Lsn(2, 0) > new Lsn(1, uint.MaxValue));
        Assert.Equal(new Lsn(7, 4096), Lsn.FromValue(new Lsn(7, 4096).Value));
        Assert.True(Lsn.TryParse("7:4096", out var l));
        Assert.Equal(new Lsn(7, 4096), l);
    }
}
