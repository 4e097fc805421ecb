using System.Management.Automation;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// A stderr line of a command run with -Stream, written to the error stream as pwsh does for a
/// native command's stderr: a RemoteException whose message is the line, id NativeCommandError,
/// the line as its target. So `2>&amp;1` merges it into the output, `2>$null` drops it, and
/// `$_.TargetObject` is the text.
/// </summary>
internal static class StdErrRecord
{
    public const string ErrorId = "NativeCommandError";

    public static ErrorRecord For(string line) =>
        new(new RemoteException(line), ErrorId, ErrorCategory.NotSpecified, line);
}
