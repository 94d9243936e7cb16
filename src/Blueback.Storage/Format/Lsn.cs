namespace Blueback.Storage.Format;

/// <summary>A log position: generation and byte offset inside that generation's file.</summary>
/// <remarks>Packed into 64 bits (generation high, offset low) so that it orders and stores as one number.</remarks>
public readonly record struct Lsn(uint Generation, uint Offset) : IComparable<Lsn>
{
    public static readonly Lsn Zero;

    public ulong Value => ((ulong)Generation << 32) | Offset;

    public static Lsn FromValue(ulong value) => new((uint)(value >> 32), (uint)value);

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);

    public static bool operator <(Lsn a, Lsn b) => a.Value < b.Value;
    public static bool operator >(Lsn a, Lsn b) => a.Value > b.Value;
    public static bool operator <=(Lsn a, Lsn b) => a.Value <= b.Value;
    public static bool operator >=(Lsn a, Lsn b) => a.Value >= b.Value;

    public override string ToString() => $"{Generation}:{Offset}";

    /// <summary>Parses "GEN:OFFSET" as printed by <see cref="ToString"/>.</summary>
    public static bool TryParse(string text, out Lsn lsn)
    {
        lsn = Zero;
        var parts = text.Split(':');
        if (parts.Length != 2 || !uint.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var g)
            || !uint.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var o))
        {
            return false;
        }
        lsn = new Lsn(g, o);
        return true;
    }
}
