namespace Blueback.Backup;

/// <summary>The base of the backup program's own errors (a chain broken, a backup refused, a proof refused, shipping
/// stopped, a failure after a set's commit): the message says what happened and what to do. Two of its errors keep
/// other bases on purpose: a restore's plan refusal is a <see cref="Storage.RestoreException"/> (one type for every
/// restore failure), and a stop after the commit an <see cref="OperationCanceledException"/>.</summary>
public abstract class BackupProgramException : Exception
{
    protected BackupProgramException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
