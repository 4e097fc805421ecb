using System.Management.Automation;

namespace Sandbox.Commands.Infrastructure;

/// <summary>Turns the engine's errors into ErrorRecords (the engine cannot name ErrorCategory itself).</summary>
internal static class ErrorRecords
{
    public static ErrorRecord From(SandboxException error) =>
        new(error, error.ErrorId, Category(error.Kind), error.Target)
        {
            ErrorDetails = error.Fix is null ? null : new ErrorDetails(error.Message) { RecommendedAction = error.Fix },
        };

    private static ErrorCategory Category(SandboxErrorKind kind) => kind switch
    {
        SandboxErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        SandboxErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        SandboxErrorKind.NotInstalled => ErrorCategory.NotInstalled,
        SandboxErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        SandboxErrorKind.ResourceBusy => ErrorCategory.ResourceBusy,
        SandboxErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
        SandboxErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        SandboxErrorKind.SetupFailure => ErrorCategory.ResourceUnavailable,
        _ => ErrorCategory.InvalidOperation,
    };
}
