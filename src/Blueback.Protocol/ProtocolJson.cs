using System.Text.Json.Serialization;

namespace Blueback.Protocol;

/// <summary>Source-generated JSON for every DTO: no reflection on the server's hot path.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(BatchRequest))]
[JsonSerializable(typeof(ScanResponse))]
[JsonSerializable(typeof(Problem))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(BeginBackupRequest))]
[JsonSerializable(typeof(BackupSessionInfo))]
[JsonSerializable(typeof(BackupLogsInfo))]
[JsonSerializable(typeof(BackupDigestInfo))]
[JsonSerializable(typeof(TruncateResponse))]
[JsonSerializable(typeof(BackupSessionList))]
[JsonSerializable(typeof(BeginRestoreRequest))]
[JsonSerializable(typeof(RestoreSessionInfo))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(TokenInfo))]
[JsonSerializable(typeof(List<TokenInfo>))]
[JsonSerializable(typeof(ShippingClaimRequest))]
[JsonSerializable(typeof(ShippingClaimResponse))]
[JsonSerializable(typeof(ShippingReady))]
[JsonSerializable(typeof(ShippingAckRequest))]
[JsonSerializable(typeof(ShippingAckResponse))]
[JsonSerializable(typeof(PromoteResponse))]
public sealed partial class ProtocolJson : JsonSerializerContext;
