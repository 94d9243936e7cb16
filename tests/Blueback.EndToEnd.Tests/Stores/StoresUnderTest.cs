using System.Diagnostics;
using System.Globalization;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Blueback.EndToEnd.Tests.Stores;

/// <summary>A store the suite runs against: where a repository named <c>name</c> lives, the options the commands
/// need for it, and the few direct reads and writes a scenario makes behind the program's back.</summary>
public interface IStoreUnderTest
{
    /// <summary>The repository location for <paramref name="name"/> (a directory, or s3://BUCKET/NAME).</summary>
    string Repo(string name);

    /// <summary>The options every command takes for this store (the S3 endpoint).</summary>
    string[] Args { get; }

    /// <summary>The keys (relative to the repository) and sizes of the objects under <paramref name="prefix"/>.</summary>
    Task<List<(string Key, long Size)>> ListAsync(string repo, string prefix);

    /// <summary>Flips one byte in the middle of the object.</summary>
    Task FlipByteAsync(string repo, string key);

    /// <summary>Writes an object behind the program's back (a leftover).</summary>
    Task PutAsync(string repo, string key, byte[] data);

    /// <summary>A scratch directory for a scenario's data directory and restore targets: the system's temp directory,
    /// or the file system under test.</summary>
    TempDir Scratch();
}

/// <summary>The local directory store.</summary>
public class LocalStoreUnderTest : IStoreUnderTest, IDisposable
{
    private TempDir? _root;

    /// <summary>The directory repositories are made in (a mounted file system's in <see cref="FileSystemUnderTest"/>).</summary>
    protected virtual string Under => Path.GetTempPath();

    private TempDir Root => _root ??= new("store-suite", Under);

    public string Repo(string name) => Root[name];

    public TempDir Scratch() => new(null, Under);

    public string[] Args => [];

    public Task<List<(string Key, long Size)>> ListAsync(string repo, string prefix)
    {
        var dir = Path.Combine(repo, prefix);
        var found = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => (Path.GetRelativePath(repo, f).Replace('\\', '/'), new FileInfo(f).Length)).ToList()
            : [];
        return Task.FromResult(found);
    }

    public async Task FlipByteAsync(string repo, string key)
    {
        var path = Path.Combine(repo, key);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[bytes.Length / 2] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);
    }

    public async Task PutAsync(string repo, string key, byte[] data)
    {
        var path = Path.Combine(repo, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, data);
    }

    public virtual void Dispose()
    {
        _root?.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>An S3 endpoint with a bucket: what moto and RGW have in common for the suite.</summary>
public abstract class S3StoreUnderTest : IStoreUnderTest
{
    public const string Bucket = "blueback-suite";

    /// <summary>The service's URL.</summary>
    public abstract string Endpoint { get; }

    /// <summary>The service's name, for messages.</summary>
    public abstract string Service { get; }

    public int Port => new Uri(Endpoint).Port;

    public string Repo(string name) => $"s3://{Bucket}/{name}";

    public string[] Args => ["--s3-endpoint", Endpoint];

    public TempDir Scratch() => new();

    /// <summary>The credentials both services accept here (moto takes any; the RGW fixture makes a user with them),
    /// set in this process's environment, which the commands the tests start inherit.</summary>
    protected static void SetCredentials()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "test");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "test");
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
    }

    /// <summary>A client of the service itself, for the tests' own reads and writes (no retries, no SDK checksums).</summary>
    public AmazonS3Client Client() => new(new BasicAWSCredentials("test", "test"), new AmazonS3Config
    {
        ServiceURL = Endpoint,
        ForcePathStyle = true,
        AuthenticationRegion = "us-east-1",
        MaxErrorRetry = 0,
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    });

    private static string Prefix(string repo) => repo[$"s3://{Bucket}/".Length..].TrimEnd('/') + "/";

    public async Task<List<(string Key, long Size)>> ListAsync(string repo, string prefix)
    {
        using var client = Client();
        var result = new List<(string, long)>();
        var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = Prefix(repo) + prefix };
        while (true)
        {
            var page = await client.ListObjectsV2Async(request);
            result.AddRange((page.S3Objects ?? []).Select(o => (o.Key[Prefix(repo).Length..], o.Size ?? 0)));
            if (page.IsTruncated != true)
            {
                return result;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    public async Task FlipByteAsync(string repo, string key)
    {
        using var client = Client();
        byte[] bytes;
        using (var get = await client.GetObjectAsync(Bucket, Prefix(repo) + key))
        using (var ms = new MemoryStream())
        {
            await get.ResponseStream.CopyToAsync(ms);
            bytes = ms.ToArray();
        }
        bytes[bytes.Length / 2] ^= 0x40;
        await PutAsync(repo, key, bytes);
    }

    public async Task PutAsync(string repo, string key, byte[] data)
    {
        using var client = Client();
        await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = Prefix(repo) + key, InputStream = new MemoryStream(data) });
    }

    protected async Task CreateBucketAsync()
    {
        using var client = Client();
        await client.PutBucketAsync(Bucket);
    }

    /// <summary>The bucket immutable repositories go in: made with Object Lock on (which S3 allows only at creation).</summary>
    public const string LockedBucket = "blueback-locked";

    /// <summary>Whether the service answers GetObjectRetention (moto 5.2.1 answers 500).</summary>
    public virtual bool ReadsRetention => true;

    public string LockedRepo(string name) => $"s3://{LockedBucket}/{name}";

    public async Task CreateLockedBucketAsync()
    {
        using var client = Client();
        try
        {
            await client.PutBucketAsync(new PutBucketRequest { BucketName = LockedBucket, ObjectLockEnabledForBucket = true });
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
            // made by an earlier test of the class
        }
    }
}

/// <summary>moto, an in-memory S3 server started for the test class.</summary>
public sealed class MotoStoreUnderTest : S3StoreUnderTest, IAsyncLifetime
{
    private MotoServer? _moto;

    public override string Endpoint => _moto!.Endpoint;

    public override string Service => "moto";

    public override bool ReadsRetention => false;

    public async Task InitializeAsync()
    {
        SetCredentials();
        _moto = await MotoServer.StartAsync();
        await CreateBucketAsync();
    }

    public Task DisposeAsync()
    {
        _moto?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>Ceph's RADOS Gateway (Debian 12's radosgw 16.2): a one-node cluster started for the test class by
/// tests/Shared/micro-ceph.sh (about 15 to 30 s), stopped at the end. Fails, naming the packages, where Ceph is
/// not installed: the Stress tier's ./test installs them.</summary>
public sealed class RgwStoreUnderTest : S3StoreUnderTest, IAsyncLifetime
{
    private readonly TempDir _dir = new("rgw");
    private int _port;

    public override string Endpoint => $"http://127.0.0.1:{_port}";

    public override string Service => "Ceph RGW";

    public async Task InitializeAsync()
    {
        SetCredentials();
        _port = FreePortPair();
        var (exit, output) = await ScriptAsync(TimeSpan.FromSeconds(240), "start", _dir["ceph"], _port.ToString(CultureInfo.InvariantCulture), "test", "test");
        if (exit != 0)
        {
            Assert.Fail($"Ceph RGW did not start (micro-ceph.sh exit {exit}): {output.Trim()}. The RGW store suite needs Debian's radosgw ceph-mon ceph-osd ceph-mgr: run ./test stress as root (it installs them) or apt-get install -y radosgw ceph-mon ceph-osd ceph-mgr.");
        }
        await CreateBucketAsync();
    }

    public async Task DisposeAsync()
    {
        await ScriptAsync(TimeSpan.FromSeconds(30), "stop", _dir["ceph"]);
        await Task.Delay(500);
        _dir.Dispose();
    }

    private static async Task<(int Exit, string Output)> ScriptAsync(TimeSpan bound, params string[] args)
    {
        var psi = new ProcessStartInfo("bash", [Path.Combine(AppContext.BaseDirectory, "micro-ceph.sh"), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // A test host killed before DisposeAsync would leave the cluster running: the script stops it then.
        psi.Environment["MICRO_CEPH_OWNER_PID"] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"timed out after {bound.TotalSeconds} s; {await e}");
        }
        return (p.ExitCode, await o + await e);
    }

    /// <summary>A free port whose successor (the monitor's) is free too.</summary>
    private static int FreePortPair()
    {
        for (int i = 0; i < 50; i++)
        {
            int port = FaultProxy.FreePort();
            try
            {
                using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port + 1);
                l.Start();
                return port;
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Taken: try another.
            }
        }
        throw new InvalidOperationException("no two free consecutive ports on loopback");
    }
}
