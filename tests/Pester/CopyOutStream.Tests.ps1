# Copy-SandboxItem -FromSandbox reads the sandbox's tar stream as it arrives, within bounds: a planted
# tar that sends garbage, or a header for more than the destination holds, fails the copy with its
# own error id and leaves the destination empty. Every sandbox and image made here lives in a store
# of its own and is removed in AfterAll.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Busybox, Bubblewrap
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:store = New-PesterStore -Tag copyout
    $null = New-PesterBusyboxImage -Name pester-copyout

    # Replaces the sandbox's tar with a script that ignores its arguments and runs $Body.
    function Set-PlantedTar([object] $Sandbox, [string] $Body) {
        $script = "mkdir -p /usr/local/bin && for t in /bin/tar /usr/bin/tar /usr/local/bin/tar; do rm -f `$t; printf '%s\n' '#!/bin/sh' '$Body' > `$t; chmod 755 `$t; done"
        (Invoke-SandboxCommand -Sandbox $Sandbox -Command sh, -c, $script).ExitCode | Should -Be 0
    }
}

AfterAll { Remove-PesterStore }

Describe 'Copy-SandboxItem -FromSandbox on a hostile stream' -Skip:([bool]$script:skipReason) {
    BeforeEach {
        $script:out = Join-Path $script:store "out-$([guid]::NewGuid().ToString('N'))"
        $null = New-Item -ItemType Directory -Path $script:out
        $script:sb = Enter-Sandbox -Image pester-copyout -Provider Bubblewrap
    }
    AfterEach { Remove-Sandbox -Sandbox $script:sb -Confirm:$false }

    It 'fails with CopyOutDamaged on garbage and writes nothing' {
        Set-PlantedTar $script:sb 'echo planted >&2; yes | head -c 50000000'
        { Copy-SandboxItem -Sandbox $script:sb -Path /item -Destination $script:out -FromSandbox -ErrorAction Stop } |
            Should -Throw -ErrorId 'CopyOutDamaged,Sandbox.Commands.CopySandboxItemCommand'
        @(Get-ChildItem -Force $script:out).Count | Should -Be 0
    }

    It 'fails with CopyOutTooLarge on a header announcing more than the destination holds' {
        # A ustar header for "item" whose GNU base-256 size is 2^62 bytes, its checksum computed here.
        $header = [byte[]]::new(512)
        [Text.Encoding]::ASCII.GetBytes('item').CopyTo($header, 0)
        [Text.Encoding]::ASCII.GetBytes("0000644`0").CopyTo($header, 100)
        $header[124] = 0x80; $header[128] = 0x40
        $header[156] = [byte][char]'0'
        [Text.Encoding]::ASCII.GetBytes("ustar`0" + '00').CopyTo($header, 257)
        for ($i = 148; $i -lt 156; $i++) { $header[$i] = 32 }
        $sum = 0; foreach ($b in $header) { $sum += $b }
        [Text.Encoding]::ASCII.GetBytes([Convert]::ToString($sum, 8).PadLeft(6, '0') + "`0 ").CopyTo($header, 148)
        $file = Join-Path $script:store 'header'
        [IO.File]::WriteAllBytes($file, $header)
        Copy-SandboxItem -Sandbox $script:sb -Path $file -Destination /root
        Set-PlantedTar $script:sb 'cat /root/header; yes | head -c 50000000'

        { Copy-SandboxItem -Sandbox $script:sb -Path /item -Destination $script:out -FromSandbox -ErrorAction Stop } |
            Should -Throw -ErrorId 'CopyOutTooLarge,Sandbox.Commands.CopySandboxItemCommand'
        @(Get-ChildItem -Force $script:out).Count | Should -Be 0
    }
}
