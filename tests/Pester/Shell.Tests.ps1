# Enter-Sandbox -Shell as a user meets it: a real pwsh that is the terminal's own process (a tmux
# pane running pwsh), typing into the sandbox's shell and back into pwsh afterwards.
# The shell runs on a pseudo-terminal of its own, relayed to pwsh's terminal: pwsh keeps its
# terminal (it used to die with EIO in ConsolePal.TryGetCursorPosition), the shell's exit code
# becomes $LASTEXITCODE, and keys the sandbox pushes into its terminal (TIOCSTI) stay there.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap, Tmux
    # The injector is a static C program; without gcc and a static libc it cannot be built.
    $script:noInjector = if (-not (Get-Command gcc -ErrorAction SilentlyContinue) -or -not (Test-Path /usr/lib/*-linux-gnu/libc.a)) {
        'gcc and a static libc are needed to build the TIOCSTI injector (apt-get install gcc libc6-dev).'
    }
    if ($script:noInjector) { Write-Host "SKIPPED: Shell.Tests.ps1 injection test: $script:noInjector" }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:manifest = Get-PesterModulePath
    $script:store = New-PesterStore -Tag shell

    # A busybox root filesystem, with "inject WORD..." (types each word and Enter into the terminal
    # on its stdin with TIOCSTI) when gcc can build it statically.
    $tree = Join-Path $script:store 'tree'
    New-BusyboxTree -Path $tree
    if (-not $script:noInjector) {
        $source = Join-Path $script:store 'inject.c'
        Set-Content -Path $source -Value @'
#include <stdio.h>
#include <sys/ioctl.h>
static int push(char c) { return ioctl(0, TIOCSTI, &c); }
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        for (const char *c = argv[i]; *c; c++) if (push(*c) != 0) { perror("TIOCSTI"); return 1; }
        if (push('\n') != 0) { perror("TIOCSTI"); return 1; }
    }
    printf("injected=yes\n");
    return 0;
}
'@
        & gcc -static -Os -o (Join-Path $tree 'bin/inject') $source
        if ($LASTEXITCODE -ne 0) { throw 'gcc could not build the injector' }
    }
    $null = New-SandboxImage -Name pester-shell -Path $tree

    $script:sessions = [Collections.Generic.List[string]]::new()

    # A pane whose own process is pwsh, with a prompt that counts: "pwsh-prompt-N>" is shown once
    # the N-th command typed after the first has finished, so a test knows when pwsh is back.
    function script:Start-PwshPane {
        $name = "sandbox-pester-$([guid]::NewGuid().ToString('N').Substring(0, 12))"
        & tmux new-session -d -s $name -x 120 -y 40 -e "SANDBOX_HOME=$script:store" 'pwsh -NoProfile -NoLogo'
        if ($LASTEXITCODE -ne 0) { throw "tmux could not start a session" }
        $script:sessions.Add($name)
        Wait-Screen $name { param($s) $s -match 'PS .*>' } | Should -BeTrue -Because 'pwsh starts'
        Send-Keys $name '$global:promptCount = 0; function prompt { $global:promptCount++; "pwsh-prompt-$global:promptCount> " }'
        Wait-Screen $name { param($s) $s.Contains('pwsh-prompt-1>') } | Should -BeTrue
        Send-Keys $name "Import-Module '$script:manifest'"
        Wait-Screen $name { param($s) $s.Contains('pwsh-prompt-2>') } | Should -BeTrue -Because 'the module imports'
        $name
    }

    function script:Send-Keys([string] $Name, [string] $Line) {
        & tmux send-keys -t $Name -l $Line
        & tmux send-keys -t $Name Enter
    }

    function script:Get-Screen([string] $Name) { (& tmux capture-pane -p -t $Name 2>&1) -join "`n" }

    # Polls the screen for up to 60 s (a loaded 2-core machine starts pwsh slowly); true once it matches.
    function script:Wait-Screen([string] $Name, [scriptblock] $Condition) {
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline) {
            if (& $Condition (Get-Screen $Name)) { return $true }
            Start-Sleep -Milliseconds 200
        }
        Write-Host "Screen of $Name at the deadline:`n$(Get-Screen $Name)"
        $false
    }

    function script:Get-PaneState([string] $Name) { (& tmux display-message -p -t $Name '#{pane_dead} #{pane_current_command}' 2>&1) -join '' }
}

AfterAll {
    foreach ($name in $script:sessions) { & tmux kill-session -t $name 2>$null }
    Remove-PesterStore
}

Describe 'Enter-Sandbox -Shell in a real pwsh on a terminal' -Skip:([bool]$script:skipReason) {
    It 'runs a command, follows a resize, sets $LASTEXITCODE to the exit code, and pwsh keeps answering on the same terminal' {
        $pane = Start-PwshPane
        # The prompt is joined at run time, so the typed command line never reads as the prompt.
        Send-Keys $pane "Enter-Sandbox -Image pester-shell -Provider Bubblewrap -Shell -Environment @{ PS1 = 'sbx-' + 'prompt$ ' }"
        Wait-Screen $pane { param($s) $s.Contains('sbx-prompt$') } | Should -BeTrue -Because 'the sandbox shell shows its prompt'
        Send-Keys $pane 'echo answer=$((6 * 7)) size=$(stty size)'
        Wait-Screen $pane { param($s) $s.Contains('answer=42 size=40 120') } | Should -BeTrue -Because 'the shell''s terminal has the pane''s size'
        & tmux resize-window -t $pane -x 100 -y 30
        Send-Keys $pane 'echo resized=$(stty size)'
        Wait-Screen $pane { param($s) $s.Contains('resized=30 100') } | Should -BeTrue -Because 'a resize of pwsh''s terminal reaches the shell'
        Send-Keys $pane 'exit 3'
        Wait-Screen $pane { param($s) $s.Contains('pwsh-prompt-3>') } | Should -BeTrue -Because 'pwsh shows its prompt again'
        Send-Keys $pane '"rc=$LASTEXITCODE"'
        Wait-Screen $pane { param($s) $s -match '(?m)^rc=3$' } | Should -BeTrue -Because 'the shell exit code is $LASTEXITCODE'
        Send-Keys $pane '"alive-" + (6 * 7)'
        Wait-Screen $pane { param($s) $s -match '(?m)^alive-42$' } | Should -BeTrue -Because 'pwsh still reads its terminal'
        Get-PaneState $pane | Should -Be '0 pwsh'
        Get-Sandbox | Should -BeNullOrEmpty -Because 'the shell''s sandbox is removed when it exits'
    }

    It 'keeps keys the sandbox pushes into its terminal (TIOCSTI) away from pwsh' -Skip:([bool]$script:noInjector) {
        $marker = "/tmp/sandbox-pester-pwned-$([guid]::NewGuid().ToString('N'))"
        try {
            $pane = Start-PwshPane
            Send-Keys $pane "Enter-Sandbox -Image pester-shell -Provider Bubblewrap -Shell -Environment @{ PS1 = 'sbx-' + 'prompt$ ' }"
            Wait-Screen $pane { param($s) $s.Contains('sbx-prompt$') } | Should -BeTrue
            # Typed into the sandbox's terminal: "exit 7" ends its shell; the second line would
            # have been read by pwsh next, had the keys gone to pwsh's terminal.
            Send-Keys $pane "inject 'exit 7' 'touch $marker'"
            Wait-Screen $pane { param($s) $s.Contains('pwsh-prompt-3>') } | Should -BeTrue -Because 'the injected exit ended the shell'
            Send-Keys $pane '"rc=$LASTEXITCODE"'
            Wait-Screen $pane { param($s) $s -match '(?m)^rc=7$' } | Should -BeTrue -Because 'the injected keys reached the sandbox shell'
            # pwsh reads its input in order: an injected line would have run before this one.
            Send-Keys $pane '"alive-" + (6 * 7)'
            Wait-Screen $pane { param($s) $s -match '(?m)^alive-42$' } | Should -BeTrue
            Test-Path $marker | Should -BeFalse -Because 'a command typed by the sandbox must not run on the host'
            Get-PaneState $pane | Should -Be '0 pwsh'
        }
        finally {
            Remove-Item -Force -ErrorAction SilentlyContinue $marker
        }
    }
}
