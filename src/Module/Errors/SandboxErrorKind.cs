namespace Sandbox;

/// <summary>
/// What kind of failure an error is. The cmdlets map it one to one onto PowerShell's ErrorCategory;
/// the engine cannot name ErrorCategory itself because it does not reference System.Management.Automation.
/// </summary>
public enum SandboxErrorKind
{
    InvalidArgument,
    ObjectNotFound,
    NotInstalled,
    PermissionDenied,
    ResourceBusy,
    InvalidOperation,
    OperationTimeout,
    OperationStopped,
    SetupFailure,
}
