using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Blueback.Storage;

/// <summary>Page-aligned native buffers for direct I/O, kept for reuse: a fresh multi-megabyte allocation per file
/// would fault in new pages every time, which is the very cost direct writes avoid. At most
/// <see cref="MaxKept"/> buffers of each size are kept; the rest are freed.</summary>
internal static unsafe class AlignedBuffers
{
    private const int MaxKept = 16;
    private static readonly ConcurrentDictionary<int, ConcurrentBag<nint>> Kept = new();

    public static nint Rent(int size)
    {
        if (Kept.TryGetValue(size, out var bag) && bag.TryTake(out var buffer))
        {
            return buffer;
        }
        return (nint)NativeMemory.AlignedAlloc((nuint)size, DirectFileWriter.Alignment);
    }

    public static void Return(nint buffer, int size)
    {
        var bag = Kept.GetOrAdd(size, _ => new ConcurrentBag<nint>());
        if (bag.Count < MaxKept)
        {
            bag.Add(buffer);
        }
        else
        {
            NativeMemory.AlignedFree((void*)buffer);
        }
    }
}
