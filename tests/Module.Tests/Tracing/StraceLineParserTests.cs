using System.Text;
using Sandbox.Tracing;
using Xunit;

namespace Sandbox.Tests.Tracing;

/// <summary>The strace-line parser against hostile strings: every path and argv word is the traced command's choice.</summary>
[Trait("Area", "Tracing")]
[Trait("Needs", "Nothing")]
public sealed class StraceLineParserTests
{
    /// <summary>How strace -xx prints a string: every byte as \xHH.</summary>
    internal static string Hex(string text) => "\"" + string.Concat(Encoding.UTF8.GetBytes(text).Select(b => $"\\x{b:x2}")) + "\"";

    [Fact]
    public void A_whole_call_gives_its_arguments_result_and_error()
    {
        var call = Assert.IsType<StraceCall>(StraceLineParser.Parse($"4242 openat(-100, {Hex("/etc/x")}, 0x241, 0666) = -1 EROFS (Read-only file system)"));
        Assert.Equal(4242, call.Pid);
        Assert.Equal("openat", call.Name);
        Assert.Equal(4, call.Arguments.Count);
        Assert.Equal("/etc/x", StraceLineParser.DecodeString(call.Arguments[1]));
        Assert.Equal(-1, call.Result);
        Assert.Equal("EROFS", call.Errno);
    }

    [Fact]
    public void Quotes_commas_brackets_and_parentheses_inside_a_path_stay_inside_it()
    {
        var hostile = "/tmp/a\", \"b) = 0 [x], {y} /* z */ \\\"";
        var call = Assert.IsType<StraceCall>(StraceLineParser.Parse($"7 rename({Hex(hostile)}, {Hex("/tmp/ok")}) = 0"));
        Assert.Equal(2, call.Arguments.Count);
        Assert.Equal(hostile, StraceLineParser.DecodeString(call.Arguments[0]));
        Assert.Equal(0, call.Result);
    }

    [Fact]
    public void A_newline_or_terminal_escape_in_a_name_is_decoded_from_its_escape_and_never_splits_the_line()
    {
        var hostile = "/tmp/a\n8 unlink(\"/etc/passwd\") = 0\u001b[2J";
        var line = $"7 openat(-100, {Hex(hostile)}, 0) = 3";
        Assert.DoesNotContain('\n', line);
        var call = Assert.IsType<StraceCall>(StraceLineParser.Parse(line));
        Assert.Equal(hostile, StraceLineParser.DecodeString(call.Arguments[1]));
    }

    [Theory]
    [InlineData("\"abc\"")]                 // bare characters: -xx never prints them, so the line was not strace's
    [InlineData("\"\\x2")]                  // cut escape
    [InlineData("\"\\x2f\\q\"")]            // unknown escape
    [InlineData("\"\\x2f")]                 // no closing quote
    [InlineData("\"\\xzz\"")]
    public void A_string_not_in_strace_s_hexadecimal_form_is_refused(string token)
    {
        if (token == "\"abc\"") Assert.Equal("abc", StraceLineParser.DecodeString(token)); // printable ASCII is allowed bare
        else Assert.Null(StraceLineParser.DecodeString(token));
    }

    [Fact]
    public void A_string_cut_at_the_length_limit_keeps_a_mark_so_it_never_passes_for_a_whole_path()
    {
        Assert.Equal("/usr/li...", StraceLineParser.DecodeString(Hex("/usr/li") + "..."));
    }

    [Theory]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("-5 openat(-100, \"\\x2f\", 0) = 3")]
    [InlineData("12 openat(-100, \"\\x2f\", 0 = 3")]                       // unbalanced
    [InlineData("12 openat(-100, \"\\x2f\", 0) 3")]                        // no result
    [InlineData("12 openat(-100, \"\\x2f\", 0) = three")]
    [InlineData("12 Openat(-100) = 3")]                                    // not a call name
    [InlineData("12 +++ exited with x +++")]
    [InlineData("12 +++ killed by \u001b[2J +++")]
    [InlineData("12 <... openat resumed")]
    public void Malformed_lines_are_refused_not_guessed(string line)
    {
        Assert.Null(StraceLineParser.Parse(line));
    }

    [Fact]
    public void Unfinished_and_resumed_halves_join_into_one_call()
    {
        var head = Assert.IsType<StraceUnfinished>(StraceLineParser.Parse($"9 execve({Hex("/bin/true")}, [{Hex("/bin/true")}], 0x55 /* 3 vars */ <unfinished ...>"));
        var tail = Assert.IsType<StraceResumed>(StraceLineParser.Parse("9 <... execve resumed>)             = 0"));
        var call = StraceLineParser.Join(head, tail)!;
        Assert.Equal(0, call.Result);
        Assert.Equal(new[] { "/bin/true" }, StraceLineParser.DecodeStringArray(call.Arguments[1]));
    }

    [Fact]
    public void The_collector_joins_halves_across_other_processes_lines_and_counts_orphans()
    {
        var collector = new TraceCollector();
        collector.Add("10 wait4(-1,  <unfinished ...>");
        collector.Add($"11 openat(-100, {Hex("/a")}, 0) = 3");
        collector.Add("10 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 11");
        collector.Add("12 <... openat resumed>) = 3"); // never started
        Assert.Equal(2, collector.Records.Count);
        Assert.Equal("wait4", ((StraceCall)collector.Records[1]).Name);
        Assert.Equal(11, ((StraceCall)collector.Records[1]).Result);
        Assert.Equal(1, collector.Dropped);
    }

    [Fact]
    public void A_clone_result_carries_the_tracers_pid_for_the_child()
    {
        var call = Assert.IsType<StraceCall>(StraceLineParser.Parse("500 clone(child_stack=NULL, flags=0x1200011, child_tidptr=0x7f) = 2 /* 501 in strace's PID NS */"));
        Assert.Equal(2, call.Result);
        Assert.Equal(501, call.HostPid);
        Assert.Equal(0x1200011, StraceLineParser.Field(call.Arguments[1], "flags"));
    }

    [Theory]
    [InlineData("77 +++ exited with 3 +++", 3, null)]
    [InlineData("77 +++ killed by SIGKILL +++", null, "SIGKILL")]
    [InlineData("77 +++ killed by SIGSEGV (core dumped) +++", null, "SIGSEGV")]
    public void Exits_give_the_code_or_the_signal(string line, int? code, string? signal)
    {
        var exit = Assert.IsType<StraceExit>(StraceLineParser.Parse(line));
        Assert.Equal(code, exit.ExitCode);
        Assert.Equal(signal, exit.Signal);
    }

    [Fact]
    public void Signal_deliveries_are_skipped_without_counting_as_dropped()
    {
        var collector = new TraceCollector();
        collector.Add("77 --- SIGCHLD {si_signo=0x11, si_code=0x2, si_pid=78, si_uid=0, si_status=0x9, si_utime=0, si_stime=0} ---");
        Assert.Empty(collector.Records);
        Assert.Equal(0, collector.Dropped);
    }

    [Fact]
    public void Past_its_bounds_the_collector_counts_instead_of_keeping()
    {
        var collector = new TraceCollector();
        var line = $"5 openat(-100, {Hex("/x")}, 0) = 3";
        for (var i = 0; i < TraceCollector.MaxRecords + 10; i++) collector.Add(line);
        Assert.Equal(TraceCollector.MaxRecords, collector.Records.Count);
        Assert.Equal(10, collector.Dropped);
    }

    [Fact]
    public void A_huge_line_is_bounded_by_the_kept_characters_and_counted()
    {
        var collector = new TraceCollector();
        var huge = $"5 openat(-100, \"{string.Concat(Enumerable.Repeat("\\x41", 4_000_000))}\", 0) = 3";
        for (var i = 0; i < 3; i++) collector.Add(huge); // 48 M characters in all: past the 32 M kept
        Assert.Equal(2, collector.Records.Count);
        Assert.Equal(1, collector.Dropped);
    }
}
