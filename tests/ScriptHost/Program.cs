using System.Management.Automation;
using System.Management.Automation.Runspaces;

// Usage: ScriptHost <script>. Output objects go to stdout one per line (ToString), errors to
// stderr as "<FullyQualifiedErrorId>: <message>"; the exit code is 1 when any error was written.
// Returning from Main is a normal process exit, so the module's exit hook runs as it does in pwsh.
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: ScriptHost <script>");
    return 2;
}

using var shell = PowerShell.Create(InitialSessionState.CreateDefault2());
shell.AddScript(args[0]);
var failed = false;
try
{
    foreach (var item in shell.Invoke()) Console.WriteLine(item?.ToString());
}
catch (RuntimeException e)
{
    Console.Error.WriteLine($"{e.ErrorRecord.FullyQualifiedErrorId}: {e.Message}");
    failed = true;
}
foreach (var error in shell.Streams.Error)
{
    Console.Error.WriteLine($"{error.FullyQualifiedErrorId}: {error.Exception.Message}");
    failed = true;
}
return failed ? 1 : 0;
