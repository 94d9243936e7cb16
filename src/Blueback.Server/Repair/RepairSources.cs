using Blueback.Repository;
using Blueback.Repository.Crypto;
using Blueback.Repository.Stores;
using Blueback.Storage.Repair;

namespace Blueback.Server.Repair;

/// <summary>The page repair source the command line or the config names (the command line's wins): a warm standby, or
/// a backup repository; null when none is.</summary>
internal static class RepairSources
{
    /// <summary>The source, to be disposed by the caller (both kinds are <see cref="IDisposable"/>).</summary>
    public static IPageRepairSource? Open(ServeOptions options, ServerConfig config, PageRepairLog log)
    {
        bool fromOptions = options.RepairFrom is not null;
        var tokenFile = fromOptions ? options.RepairTokenFile : config.RepairTokenFile;
        var from = fromOptions ? options.RepairFrom : config.RepairFrom;
        var spec = RepairRepositoryConfig.Check(from, tokenFile, fromOptions ? "--repair-from" : "The config");
        if (spec?.Repository is { } location)
        {
            var settings = (fromOptions ? options.RepairRepository : config.RepairRepository) ?? new RepairRepositoryConfig();
            settings.Validate(fromOptions ? "--repair-from" : "The config");
            return new RepositoryPageSource(location, ct => OpenRepositoryAsync(location, settings, ct), log);
        }
        if (spec?.Standby is not { } standby)
        {
            return null;
        }
        string token;
        try
        {
            token = File.ReadAllText(tokenFile!).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ServerConfigException($"The repair token file '{tokenFile}' cannot be read: {ex.Message}");
        }
        return new Standby.StandbyPageSource(standby, token, log);
    }

    private static async Task<BackupRepository> OpenRepositoryAsync(string location, RepairRepositoryConfig settings, CancellationToken ct)
    {
        var store = RepositoryStores.Open(location, settings.S3);
        try
        {
            return await BackupRepository.OpenAsync(store, RepositorySecret.FromKeyFileOrEnvironment(settings.KeyFile), ct).ConfigureAwait(false);
        }
        catch
        {
            (store as IDisposable)?.Dispose();
            throw;
        }
    }
}
