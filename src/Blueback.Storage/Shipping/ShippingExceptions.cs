namespace Blueback.Storage.Shipping;

/// <summary>Shipping cannot go on from here (a generation the repository needs is gone, another shipper holds the
/// instance, the repository is ahead of the log): the message says why and what to do.</summary>
public sealed class ShippingRefusedException(string message) : StorageException(message);
