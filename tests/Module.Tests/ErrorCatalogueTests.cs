using System.Reflection;
using System.Text.RegularExpressions;
using Xunit;

namespace Sandbox.Tests;

/// <summary>
/// Every error the module reports comes from one catalogue (<see cref="SandboxErrors"/>, all its
/// partial files, whoever adds one): each id is made by one factory and means one thing, and every
/// error says what to do about it. Pure: needs no root, runs nothing.
/// </summary>
[Trait("Area", "Errors")]
public sealed class ErrorCatalogueTests
{
    private static readonly string Sources = Path.Combine(RepositoryRoot(), "src");
    private static readonly string CatalogueFolder = Path.Combine(Sources, "Module", "Errors");

    // An error id written where an exception is made: "SomeId", SandboxErrorKind.X
    private static readonly Regex IdLiteral = new("\"(?<id>[A-Za-z]+)\"\\s*,\\s*SandboxErrorKind\\.", RegexOptions.Compiled);

    private static readonly Regex NewException = new("new\\s+SandboxException\\s*\\(", RegexOptions.Compiled);

    public static IEnumerable<object[]> Factories() => FactoryMethods().Select(method => new object[] { Describe(method) });

    [Fact]
    public void Two_factories_never_make_the_same_id()
    {
        var byId = FactoryMethods()
            .Where(method => !IsRefinement(method))
            .SelectMany(method => Samples(method).Select(error => (error.ErrorId, method.Name)))
            .GroupBy(pair => pair.ErrorId)
            .Where(group => group.Select(pair => pair.Name).Distinct().Count() > 1)
            .Select(group => $"{group.Key}: {string.Join(", ", group.Select(pair => pair.Name).Distinct())}")
            .ToList();
        Assert.True(byId.Count == 0, "ids made by more than one factory: " + string.Join("; ", byId));
    }

    [Theory]
    [MemberData(nameof(Factories))]
    public void Every_error_has_an_id_a_message_and_a_fix(string factory)
    {
        var method = FactoryMethods().Single(m => Describe(m) == factory);
        foreach (var error in Samples(method))
        {
            Assert.Matches("^[A-Z][A-Za-z]+$", error.ErrorId);
            Assert.True(Enum.IsDefined(error.Kind), $"{factory}: kind {error.Kind}");
            Assert.False(string.IsNullOrWhiteSpace(error.Fix), $"{factory} ({error.ErrorId}) says no fix");
            var problem = error.Message[..^error.Fix!.Length].Trim();
            Assert.True(error.Message.EndsWith(error.Fix, StringComparison.Ordinal) && problem.Length > 0,
                $"{factory} ({error.ErrorId}): the message states the problem, then the fix: '{error.Message}'");
        }
    }

    [Fact]
    public void No_exception_is_made_outside_the_catalogue()
    {
        // Whole files, so an id on the line before its kind is seen too.
        var bypasses = SourceFiles()
            .Where(file => !file.StartsWith(CatalogueFolder + "/", StringComparison.Ordinal))
            .SelectMany(file =>
            {
                var text = File.ReadAllText(file);
                return NewException.Matches(text).Concat(IdLiteral.Matches(text))
                    .Select(match => $"{Path.GetRelativePath(Sources, file)}:{text[..match.Index].Count(c => c == '\n') + 1}: {match.Value}");
            })
            .ToList();
        Assert.True(bypasses.Count == 0,
            "Make these errors with a factory in src/Module/Errors (SandboxErrors.*.cs):\n" + string.Join("\n", bypasses));
    }

    [Fact]
    public void Every_error_id_is_written_once_in_the_sources()
    {
        var repeated = SourceFiles()
            .SelectMany(file => IdLiteral.Matches(File.ReadAllText(file)).Select(match => (Id: match.Groups["id"].Value, file)))
            .GroupBy(hit => hit.Id)
            .Where(group => group.Count() > 1)
            .Select(group => $"{group.Key} in {string.Join(", ", group.Select(hit => Path.GetRelativePath(Sources, hit.file)))}")
            .ToList();
        Assert.True(repeated.Count == 0, "an id written twice means two errors share it: " + string.Join("; ", repeated));
    }

    [Fact]
    public void A_lock_that_cannot_be_taken_is_a_catalogue_error_not_a_bare_IOException()
    {
        var folder = Directory.CreateTempSubdirectory("sandbox-test-lock-").FullName;
        try
        {
            var lockFile = Path.Combine(folder, "sandbox-names.lock");
            Directory.CreateDirectory(lockFile); // open(O_RDWR) of a folder fails with EISDIR

            var error = Assert.Throws<SandboxException>(() => Storage.FileLock.Acquire(lockFile));

            Assert.Equal("LockFailed", error.ErrorId);
            Assert.Contains(lockFile, error.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    /// <summary>The catalogue's factories: public static methods of SandboxErrors returning a SandboxException.</summary>
    private static IEnumerable<MethodInfo> FactoryMethods() =>
        typeof(SandboxErrors).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(method => method.ReturnType == typeof(SandboxException))
            .OrderBy(Describe, StringComparer.Ordinal);

    /// <summary>A refinement takes the error it words better and keeps its id (CommandNotFoundAsOneString).</summary>
    private static bool IsRefinement(MethodInfo method) =>
        method.GetParameters().Any(parameter => parameter.ParameterType == typeof(SandboxException));

    private static string Describe(MethodInfo method) =>
        $"{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>The factory called with sample arguments; a bool or enum argument is tried with each value.</summary>
    private static IEnumerable<SandboxException> Samples(MethodInfo method)
    {
        var choices = method.GetParameters().Select(SampleValues).ToList();
        IEnumerable<object?[]> combinations = new[] { Array.Empty<object?>() };
        foreach (var values in choices)
            combinations = combinations.SelectMany(prefix => values.Select(value => prefix.Append(value).ToArray()));
        return combinations.Select(arguments => (SandboxException)method.Invoke(null, arguments)!).ToList();
    }

    private static object?[] SampleValues(ParameterInfo parameter)
    {
        var type = Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType;
        if (type == typeof(string)) return new object?[] { $"sample-{parameter.Name}" };
        if (type == typeof(bool)) return new object?[] { true, false };
        if (type == typeof(int)) return new object?[] { 3 };
        if (type == typeof(uint)) return new object?[] { 0u, 1001u };
        if (type == typeof(long)) return new object?[] { 4096L };
        if (type == typeof(ulong)) return new object?[] { 4096UL };
        if (type == typeof(TimeSpan)) return new object?[] { TimeSpan.Zero, TimeSpan.FromDays(100) };
        if (type.IsEnum) return Enum.GetValues(type).Cast<object?>().ToArray();
        if (type == typeof(SandboxException)) return new object?[] { SandboxErrors.CommandNotFound("uname -a", "No such file or directory") };
        if (type == typeof(Exception)) return new object?[] { null, new IOException("sample") };
        if (type == typeof(object)) return new object?[] { "sample-target" };
        if (type.IsAssignableFrom(typeof(string[]))) return new object?[] { new[] { "sample-a", "sample-b" } };
        if (type == typeof(double)) return new object?[] { 1.5 };
        if (parameter.HasDefaultValue) return new[] { parameter.DefaultValue };
        if (type.IsValueType) return new[] { Activator.CreateInstance(type) };
        throw new InvalidOperationException(
            $"Add a sample for {type.Name} (parameter {parameter.Name} of {Describe((MethodInfo)parameter.Member)}) to ErrorCatalogueTests.SampleValues.");
    }

    private static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(Sources, "*.cs", SearchOption.AllDirectories)
            .Where(file => !file.Contains("/obj/", StringComparison.Ordinal) && !file.Contains("/bin/", StringComparison.Ordinal));

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
            if (File.Exists(Path.Combine(folder.FullName, "Sandbox.sln"))) return folder.FullName;
        throw new InvalidOperationException($"No Sandbox.sln above {AppContext.BaseDirectory}.");
    }
}
