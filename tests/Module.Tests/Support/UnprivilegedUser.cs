namespace Sandbox.Tests.Support;

/// <summary>
/// The unprivileged account the rootless tests run as, created on first use (tests run as root on
/// CI). Its name says what it is for, so an administrator who finds it knows it can go.
/// </summary>
public static class UnprivilegedUser
{
    public const string Name = "sandbox-test";

    /// <summary>A second account, for attacks of one unprivileged user on another's sandboxes.</summary>
    public const string OtherName = "sandbox-test2";

    private static readonly object Gate = new();
    private static readonly HashSet<string> Ensured = new();

    public static bool CanCreate => Environment.UserName == "root";

    public static string SkipReason =>
        "the rootless tests create and switch to the user 'sandbox-test', which needs root; run the tests as root (CI does).";

    public static void Ensure(string name = Name)
    {
        lock (Gate)
        {
            if (Ensured.Contains(name)) return;
            try { RunAsRoot.Command("id", "-u", name); }
            catch (InvalidOperationException)
            {
                RunAsRoot.Command("useradd", "--create-home", "--shell", "/bin/sh", "--comment", "Sandbox module tests", name);
            }
            Ensured.Add(name);
        }
    }
}
