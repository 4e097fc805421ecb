namespace Sandbox.Providers;

/// <summary>
/// What the fakechroot and fakeroot wrapper scripts would set up for one command, as plain data:
/// the variables and the command line. Exactly what `fakechroot chroot COPY CMD` with our faked's
/// FAKEROOTKEY ended with (the scripts /usr/bin/fakechroot, /etc/fakechroot/chroot.env and
/// /usr/sbin/chroot.fakechroot, read for fakechroot 2.20.1), without starting the three shells,
/// the getopt, which, sed, seq and env they ran for every command (about 40 processes).
/// The last step is kept as it was: the host's chroot, run with both libraries preloaded, calls
/// chroot(2), which libfakechroot turns into FAKECHROOT_BASE (adding the copy's /usr/lib and /lib
/// to LD_LIBRARY_PATH), then changes to "/" and runs the command through libfakechroot's execvp,
/// which maps the path, a script's interpreter and the substituted commands into the copy.
/// The chain between us and chroot (setpriv, time) must not run under the preload: the variables
/// are given to chroot alone, by the host's env, on its command line (<see cref="Prefix"/>; none
/// of them is a secret). The command's own environment (which may hold secrets) stays in environ.
/// </summary>
internal sealed record FakeChrootEnvironment(
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyList<string> Prefix,
    IReadOnlyList<string> Argv)
{
    /// <summary>Where the fakeroot script looks for its library (LD_LIBRARY_PATH before chroot).</summary>
    public const string FakerootLibraries = "/usr/lib/x86_64-linux-gnu/libfakeroot:/usr/lib64/libfakeroot:/usr/lib/libfakeroot";

    /// <summary>libfakeroot first (the fakechroot script swaps them so), both found through the linker's paths.</summary>
    public const string Preload = "libfakeroot-sysv.so:libfakechroot.so";

    /// <summary>What chroot.env excludes from the mapping: the host's own, as with the scripts.</summary>
    public const string ExcludedPaths = "/dev:/proc:/sys";

    /// <summary>The names of the commands chroot.env substitutes.</summary>
    public static IEnumerable<string> SubstitutedCommands => Substitutes.Select(s => s.Name);

    /// <summary>The commands chroot.env substitutes, in every folder of PATH, and what runs instead.</summary>
    private static readonly (string Name, string Substitute)[] Substitutes =
    {
        ("chroot", "/usr/sbin/chroot.fakechroot"), ("env", "/usr/bin/env.fakechroot"), ("ischroot", "/bin/true"),
        ("ldconfig", "/bin/true"), ("ldd", "/usr/bin/ldd.fakechroot"),
    };

    /// <summary>The runpath folders chroot.fakechroot adds when the copy has them.</summary>
    public static readonly IReadOnlyList<string> ExtraLibraryFolders = new[] { "/lib/systemd", "/usr/lib/man-db" };

    /// <summary>The fakeroot variables that say who the command is (uid, effective, saved, file system).</summary>
    private static readonly string[] UidVariables = { "FAKEROOTUID", "FAKEROOTEUID", "FAKEROOTSUID", "FAKEROOTFUID" };
    private static readonly string[] GidVariables = { "FAKEROOTGID", "FAKEROOTEGID", "FAKEROOTSGID", "FAKEROOTFGID" };

    /// <summary>The sandbox-independent facts the builder needs.</summary>
    /// <param name="Env">The host's env (coreutils), which sets the variables for chroot alone.</param>
    /// <param name="Chroot">The host's chroot (coreutils).</param>
    /// <param name="Shell">The shell that changes to the working folder inside the copy (the copy's /bin/sh).</param>
    /// <param name="FakechrootVersion">What the fakechroot script exports as FAKECHROOT_VERSION.</param>
    public sealed record Tools(string Env, string Chroot, string FakechrootVersion, string Shell = "/bin/sh");

    /// <param name="command">The command's environment (CommandEnvironment.Compose), argv and working folder.</param>
    /// <param name="copy">The sandbox's private copy, as the kernel names it (no links: chroot.fakechroot uses pwd -P).</param>
    /// <param name="fakedKey">The FAKEROOTKEY of the sandbox's running faked.</param>
    /// <param name="uid">The uid the command believes it has (its -User, else 0); <paramref name="gid"/> likewise.</param>
    /// <param name="libraryFolders">The copy's linker folders (ld.so.conf, in order) as paths inside the copy.</param>
    /// <param name="extraFolders">Those of <see cref="ExtraLibraryFolders"/> the copy has, as paths inside it.</param>
    /// <param name="onHostPath">Whether a command of that name is on the host in the given PATH (chroot.env's `command -v chroot`).</param>
    public static FakeChrootEnvironment Build(Tools tools, IReadOnlyDictionary<string, string> environment,
        IReadOnlyList<string> argv, string? workingDirectory, string copy, string fakedKey, uint uid, uint gid,
        IReadOnlyList<string> libraryFolders, IReadOnlyList<string> extraFolders, Func<string, string, bool> onHostPath)
    {
        if (argv.Count == 0) throw new ArgumentException("A command needs at least its program.", nameof(argv));
        copy = copy.TrimEnd('/');
        var own = new Dictionary<string, string>(environment);

        // chroot.env: a PATH without chroot gets /usr/sbin and /sbin, and that PATH is the command's.
        var path = own.TryGetValue("PATH", out var given) ? given : "";
        if (!onHostPath("chroot", path))
        {
            path = (path.Length > 0 ? path : "/usr/bin:/bin") + ":/usr/sbin:/sbin";
            own["PATH"] = path;
        }

        var variables = new List<(string, string)>
        {
            ("FAKECHROOT", "true"),
            ("FAKECHROOT_VERSION", tools.FakechrootVersion),
            ("FAKECHROOT_EXCLUDE_PATH", ExcludedPaths),
            ("FAKECHROOT_CMD_SUBST", CommandSubstitutions(path)),
            ("FAKECHROOT_LDLIBPATH", FakerootLibraries),
            ("LD_LIBRARY_PATH", LibraryPath(copy, libraryFolders, extraFolders)),
            ("LD_PRELOAD", Preload),
            ("FAKEROOTKEY", fakedKey),
        };
        variables.AddRange(UidVariables.Select(name => (name, uid.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        variables.AddRange(GidVariables.Select(name => (name, gid.ToString(System.Globalization.CultureInfo.InvariantCulture))));

        // Ours win over the command's (as they did when set after it); environ keeps none of them,
        // so setpriv and time run without the preload, and values a caller gave them do not reach chroot twice.
        foreach (var (name, _) in variables) own.Remove(name);
        own.Remove("FAKECHROOT_BASE");
        own.Remove("FAKECHROOT_BASE_ORIG");
        own.Remove("FAKECHROOT_CMD_ORIG");

        var prefix = new List<string> { tools.Env };
        prefix.AddRange(variables.Select(v => v.Item1 + "=" + v.Item2));
        prefix.Add(tools.Chroot);
        prefix.Add(copy);

        var command = new List<string>();
        // chroot starts in "/"; the copy's sh changes to the working folder first.
        if (workingDirectory is { } folder && folder != "/")
            command.AddRange(new[] { tools.Shell, "-c", "cd \"$1\" && shift && exec \"$@\"", "sandbox-chdir", folder });
        command.AddRange(argv);
        return new FakeChrootEnvironment(own, prefix, command)
        {
            ChrootVariables = variables.Select(v => new KeyValuePair<string, string>(v.Item1, v.Item2)).ToList(),
            Copy = copy,
        };
    }

    /// <summary>The variables <see cref="Prefix"/> gives chroot alone through env, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ChrootVariables { get; init; } = Array.Empty<KeyValuePair<string, string>>();

    /// <summary>The copy the command runs in, as given to <see cref="Build"/> (no trailing slash).</summary>
    public string Copy { get; init; } = "";

    /// <summary>
    /// For a command started with no chroot in front (<see cref="FakeChrootDirectStart"/>): the
    /// environment chroot's run leaves the command, all in environ. chroot's own variables, then
    /// what libfakechroot's chroot(2) adds: FAKECHROOT_BASE (the copy) and the copy's /usr/lib and
    /// /lib at the end of LD_LIBRARY_PATH (its execve hands those on unchanged).
    /// </summary>
    public IReadOnlyDictionary<string, string> DirectEnvironment()
    {
        var environment = new Dictionary<string, string>(WithoutEnv().Environment)
        {
            ["FAKECHROOT_BASE"] = Copy,
        };
        environment["LD_LIBRARY_PATH"] += $":{Copy}/usr/lib:{Copy}/lib";
        return environment;
    }

    /// <summary>
    /// For a launcher that loads no library (our static LaunchHelper, which an LD_PRELOAD cannot
    /// reach): chroot's variables in the environment itself and chroot without env, one exec less.
    /// </summary>
    public (IReadOnlyDictionary<string, string> Environment, IReadOnlyList<string> CommandLine) WithoutEnv()
    {
        var environment = new Dictionary<string, string>(Environment);
        foreach (var (name, value) in ChrootVariables) environment[name] = value;
        return (environment, Prefix.Skip(1 + ChrootVariables.Count).Concat(Argv).ToList());
    }

    /// <summary>The whole command line: <see cref="Prefix"/> then <see cref="Argv"/>.</summary>
    public IReadOnlyList<string> CommandLine => Prefix.Concat(Argv).ToList();

    /// <summary>
    /// chroot.env's list, built from PATH: each folder's chroot, env, ischroot, ldconfig and ldd
    /// replaced. It starts and ends with ':' as the script's does (its list began with a newline).
    /// </summary>
    public static string CommandSubstitutions(string path)
    {
        var entries = path.Split(':')
            .Where(folder => folder.Length > 0) // the script splits on ':' with word splitting: empty folders vanish
            .SelectMany(folder => Substitutes.Select(s => $"{folder}/{s.Name}={s.Substitute}"));
        return ":" + string.Concat(entries.Select(entry => entry + ":"));
    }

    /// <summary>
    /// chroot.fakechroot's LD_LIBRARY_PATH: the fakeroot folders inside the copy, the copy's
    /// ld.so.conf folders, its runpath folders, the fakeroot folders on the host. (libfakechroot's
    /// chroot(2) then appends the copy's /usr/lib and /lib itself.)
    /// </summary>
    public static string LibraryPath(string copy, IReadOnlyList<string> libraryFolders, IReadOnlyList<string> extraFolders)
    {
        var folders = new List<string>();
        folders.AddRange(FakerootLibraries.Split(':').Select(folder => copy + "/" + folder.TrimStart('/')));
        folders.AddRange(libraryFolders.Select(folder => copy + folder));
        folders.AddRange(extraFolders.Select(folder => copy + folder));
        folders.Add(FakerootLibraries);
        return string.Join(':', folders);
    }
}
