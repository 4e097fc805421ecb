namespace Sandbox.Tests.Support;

/// <summary>
/// The unprivileged account the rootless tests run as, created on first use (tests run as root on
/// CI). Its name says what it is for, so an administrator who finds it knows it can go.
/// </summary>
public static class UnprivilegedUser
{
    public const string Name = "sandbox-test";
    private static readonly object Gate = new();
    private static bool _ensured;

    public static bool CanCreate => Environment.UserName == "root";

    public static string SkipReason =>
        "the rootless tests create and switch to the user 'sandbox-test', which needs root; run the tests as root (CI does).";

    public static void Ensure()
    {
        lock (Gate)
        {
            if (_ensured) return;
            try { RunAsRoot.Command("id", "-u", Name); }
            catch (InvalidOperationException)
            {
                RunAsRoot.Command("useradd", "--create-home", "--shell", "/bin/sh", "--comment", "Sandbox module tests", Name);
            }
            _ensured = true;
        }
    }
}
