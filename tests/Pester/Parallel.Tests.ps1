# Independent sandboxes in parallel runspaces (ForEach-Object -Parallel, the module imported in each)
# each get their whole output, and large or binary output comes back flagged or exact, never silently
# cut. Every sandbox and image made here lives in a store of its own and is removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:module = Get-PesterModulePath
    $script:store = New-PesterStore -Tag parallel
    $null = New-PesterBusyboxImage -Name parallel-busybox

    # What `seq 1 20000` prints: 108894 bytes.
    $script:expectedSeq = (1..20000 | ForEach-Object { "$_`n" }) -join ''
}

AfterAll { Remove-PesterStore }

Describe 'Sandboxes in parallel runspaces' -Skip:([bool]$script:skipReason) {
    It '8 sandboxes at once each Enter, copy in and out, Invoke and Remove with complete results' {
        $work = Join-Path $script:store 'copies'
        $results = 1..8 | ForEach-Object -ThrottleLimit 8 -Parallel {
            $ErrorActionPreference = 'Stop'
            Import-Module $using:module
            $i = $_
            $folder = Join-Path $using:work "run-$i"
            $null = New-Item -ItemType Directory -Force -Path (Join-Path $folder 'out')
            $source = Join-Path $folder 'payload.bin'
            $bytes = [byte[]]::new(300KB)
            [Random]::new($i).NextBytes($bytes)
            [IO.File]::WriteAllBytes($source, $bytes)

            $sandbox = Enter-Sandbox -Image parallel-busybox -Provider Bubblewrap
            try {
                Copy-SandboxItem -Sandbox $sandbox -Path $source -Destination /root/in
                $seq = Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, "seq 1 20000; echo $i"
                $sum = Invoke-SandboxCommand -Sandbox $sandbox -Command sha256sum, /root/in/payload.bin
                $copied = Copy-SandboxItem -Sandbox $sandbox -Path /root/in/payload.bin -Destination (Join-Path $folder 'out') -FromSandbox -PassThru
                [pscustomobject]@{
                    Index     = $i
                    SeqOk     = $seq.StdOut -ceq "$($using:expectedSeq)$i`n" -and -not $seq.StdOutTruncated
                    SumInside = ($sum.StdOut -split ' ')[0]
                    SumHost   = (Get-FileHash -Algorithm SHA256 -Path $source).Hash.ToLowerInvariant()
                    SumOut    = (Get-FileHash -Algorithm SHA256 -Path $copied.FullName).Hash.ToLowerInvariant()
                }
            }
            finally { $sandbox | Remove-Sandbox }
        }

        $results.Count | Should -Be 8
        foreach ($result in $results) {
            $result.SeqOk | Should -BeTrue -Because "sandbox $($result.Index) must return its whole stdout"
            $result.SumInside | Should -Be $result.SumHost -Because "sandbox $($result.Index) got the whole file in"
            $result.SumOut | Should -Be $result.SumHost -Because "sandbox $($result.Index) gave the whole file back"
        }
        @(Get-Sandbox).Count | Should -Be 0
    }

    It '32 commands at once in ForEach-Object -Parallel each return their whole output' {
        $sandboxes = 1..32 | ForEach-Object { Enter-Sandbox -Image parallel-busybox -Provider Bubblewrap }
        try {
            $incomplete = 0..31 | ForEach-Object -ThrottleLimit 32 -Parallel {
                Import-Module $using:module
                $i = $_
                $result = Invoke-SandboxCommand -Sandbox ($using:sandboxes)[$i] -Command sh, -c, "seq 1 20000; echo $i"
                if ($result.StdOut -cne "$($using:expectedSeq)$i`n" -or $result.ExitCode -ne 0) { "command $i returned $($result.StdOut.Length) chars" }
            }
            $incomplete | Should -BeNullOrEmpty
        }
        finally { $sandboxes | Remove-Sandbox }
    }
}

Describe 'Large and binary output' -Skip:([bool]$script:skipReason) {
    BeforeAll { $script:sandbox = Enter-Sandbox -Image parallel-busybox -Provider Bubblewrap }
    AfterAll { $script:sandbox | Remove-Sandbox }

    It 'keeps 16 MiB of a larger stdout, says it is truncated, and warns how to get it all' {
        $result = Invoke-SandboxCommand -Sandbox $script:sandbox -Command sh, -c, 'yes | head -c 40000000' -WarningVariable warnings -WarningAction SilentlyContinue
        $result.ExitCode | Should -Be 0
        $result.StdOutTruncated | Should -BeTrue
        $result.StdOutLength | Should -Be 40000000
        $result.StdOut.Length | Should -Be 16MB
        $warnings.Count | Should -Be 1
        "$($warnings[0])" | Should -BeLike '*40000000 bytes*-Stream*Copy-SandboxItem*'
        # The table view says so too, in front of the text it shows.
        ($result | Out-String -Width 200) | Should -BeLike '*`[truncated: 40000000 bytes written`] y*'
    }

    It 'streams every line of a stdout larger than the limit with -Stream' {
        # 20000 lines of 1000 characters: 20 MB, more than a result keeps.
        $count = 0; $length = 0
        Invoke-SandboxCommand -Sandbox $script:sandbox -Command sh, -c, 'yes "$(printf %0999d 0)" | head -n 20000' -Stream -WarningVariable warnings |
            ForEach-Object { $count++; $length += $_.Length }
        $count | Should -Be 20000
        $length | Should -Be 19980000
        $warnings.Count | Should -Be 0
    }

    It 'streams 256 MiB with -Stream in a pwsh whose memory stays far below the output size' {
        # A pwsh of its own, so its peak working set is this command's doing. The old runner also
        # kept every streamed line (512 MiB as UTF-16) and the queue to the pipeline was unbounded.
        $script = {
            param($module)
            Import-Module $module
            $sandbox = Enter-Sandbox -Image parallel-busybox -Provider Bubblewrap
            $lines = Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, 'yes "$(printf %01023d 0)" | head -c 268435456' -Stream |
                Measure-Object
            $sandbox | Remove-Sandbox
            "$($lines.Count) $([Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64)"
        }
        $count, $peak = (pwsh -NoProfile -Command $script -args $script:module) -split ' '
        [int]$count | Should -Be 262144
        [long]$peak | Should -BeLessThan 700MB
    }

    It 'returns binary stdout byte for byte and takes a byte array as stdin with -InputObject (,$bytes)' {
        $bytes = [byte[]]::new(1000)
        [Random]::new(7).NextBytes($bytes)
        $bytes[0] = 0xff
        $result = Invoke-SandboxCommand -Sandbox $script:sandbox -Command cat -InputObject (, $bytes)
        $result.StdOutLength | Should -Be 1000
        [Convert]::ToHexString($result.StdOutBytes) | Should -Be ([Convert]::ToHexString($bytes))
    }

    It 'refuses a -TimeoutSec longer than can be supervised before starting the command' {
        { Invoke-SandboxCommand -Sandbox $script:sandbox -Command touch, /root/started -TimeoutSec 4294968 -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidTimeout,Sandbox.Commands.InvokeSandboxCommandCommand'
        (Invoke-SandboxCommand -Sandbox $script:sandbox -Command test, -e, /root/started).ExitCode | Should -Be 1
    }
}
