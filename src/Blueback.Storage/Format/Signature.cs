using System.Runtime.InteropServices;

namespace Blueback.Storage.Format;

/// <summary>Identity of a database or a log stream: a random id and the creation time.</summary>
[StructLayout(LayoutKind.Explicit, Size = SizeOf)]
public readonly record struct Signature
{
    public const int SizeOf = 24;

    [FieldOffset(0)] public readonly Guid Id;
    [FieldOffset(16)] public readonly long CreatedTicks;

    public Signature(Guid id, long createdTicks)
    {
        Id = id;
        CreatedTicks = createdTicks;
    }

    public static Signature New() => new(Guid.NewGuid(), DateTime.UtcNow.Ticks);

    public bool IsEmpty => Id == Guid.Empty;

    public DateTime Created => new(CreatedTicks, DateTimeKind.Utc);

    public override string ToString() => IsEmpty ? "(none)" : $"{Id:N} created {Created:yyyy-MM-ddTHH:mm:ss.fffZ}";
}
