namespace Blueback.Storage.Format;

internal static class FormatConstants
{
    public const int MinPageSize = 4096;
    public const int MaxPageSize = 32768;
    public const int DefaultPageSize = 8192;

    public const uint HeaderPage = 0;
    public const uint ShadowHeaderPage = 1;
    public const uint SpaceRootPage = 2;
    public const uint CatalogRootPage = 3;
    public const uint FirstDataPage = 4;

    public const int MaxKeyLength = 1024;
    public const int MaxValueLength = 16 * 1024 * 1024;

    public static bool IsValidPageSize(int size) =>
        size >= MinPageSize && size <= MaxPageSize && (size & (size - 1)) == 0;
}
