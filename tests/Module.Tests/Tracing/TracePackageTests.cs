using Sandbox.Tests.Support;
using Xunit;

namespace Sandbox.Tests.Tracing;

/// <summary>A traced command in a real bookworm minbase: the packages it used, from the image's own dpkg database.</summary>
[Collection(DebianImageCollection.Name)]
[Trait("Area", "Tracing")]
[Trait("Provider", "Bubblewrap")]
[Trait("User", "Root")]
public sealed class TracePackageTests
{
    private readonly DebianImageFixture _debian;

    public TracePackageTests(DebianImageFixture debian) => _debian = debian;

    [SkippableFact]
    public void Sed_version_traced_lists_sed_and_libc6_among_the_packages_used()
    {
        Skip.If(_debian.SkipReason is not null, _debian.SkipReason);
        var sandbox = _debian.Engine.CreateSandbox(new SandboxCreateOptions { Image = DebianImageFixture.ImageName, Provider = ProviderName.Bubblewrap });
        try
        {
            var result = _debian.Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sed", "--version" }, Trace = true });
            Assert.Equal(0, result.ExitCode);
            var trace = result.Trace!;
            var packages = trace.Packages.ToDictionary(p => p.Name);
            var shown = string.Join("; ", trace.Packages.Select(p => $"{p.Name}: {string.Join(' ', p.Paths)}")) + " | unowned: " + string.Join(' ', trace.UnownedFiles);
            Assert.True(packages.ContainsKey("sed"), shown);
            Assert.True(packages.ContainsKey("libc6"), shown);
            // The exec'd program is found under /usr (usrmerge: the list says /bin/sed), and libc by its path under /lib.
            Assert.Contains(packages["sed"].Paths, path => path.EndsWith("/bin/sed", StringComparison.Ordinal));
            Assert.Contains(packages["libc6"].Paths, path => path.Contains("libc.so.6", StringComparison.Ordinal));
            // ld.so.cache is made by ldconfig, owned by no package.
            Assert.Contains("/etc/ld.so.cache", trace.UnownedFiles);
            Assert.DoesNotContain(trace.UnownedFiles, path => path.StartsWith("/proc/", StringComparison.Ordinal) || path.EndsWith("/bin/sed", StringComparison.Ordinal));
            Assert.Equal(trace.Packages.Count, trace.Summary.Packages);
        }
        finally { _debian.Engine.RemoveSandbox(sandbox); }
    }

    [SkippableFact]
    public void A_dpkg_database_planted_as_a_link_to_a_host_file_is_not_read()
    {
        Skip.If(_debian.SkipReason is not null, _debian.SkipReason);
        var sandbox = _debian.Engine.CreateSandbox(new SandboxCreateOptions { Image = DebianImageFixture.ImageName, Provider = ProviderName.Bubblewrap });
        using var secret = new TemporaryFolder("trace-secret");
        var hostList = Path.Combine(secret.Path, "sed.list");
        File.WriteAllText(hostList, "/etc/ld.so.cache\n");
        try
        {
            // The sandbox swaps sed's list for a link to a host file claiming ld.so.cache: the reader never follows it.
            Assert.Equal(0, _debian.Engine.Invoke(sandbox, new SandboxCommand
            {
                Argv = new[] { "sh", "-c", $"rm /var/lib/dpkg/info/sed.list && ln -s {hostList} /var/lib/dpkg/info/sed.list" },
            }).ExitCode);
            var trace = _debian.Engine.Invoke(sandbox, new SandboxCommand { Argv = new[] { "sed", "--version" }, Trace = true }).Trace!;
            Assert.DoesNotContain(trace.Packages, p => p.Name == "sed");
            Assert.Contains("/etc/ld.so.cache", trace.UnownedFiles);
            Assert.Contains(trace.Packages, p => p.Name == "libc6");
            Assert.True(trace.Truncated); // the database could not all be read: the trace says it is incomplete
        }
        finally { _debian.Engine.RemoveSandbox(sandbox); }
    }
}
