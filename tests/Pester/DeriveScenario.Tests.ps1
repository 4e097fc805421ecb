# The scenario derived images are for, written as a user writes it: BeforeAll derives 'app' from a
# bookworm image by installing jq (with the host's network, the derive default), once; each test
# then runs in a fresh sandbox of 'app', which starts from that state instead of re-provisioning.
# The bookworm image is the suite run's one (Get-SharedBookworm), imported into a store of this
# file's; nothing is kept across runs.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $script:skipReason = Get-PesterSkipReason -File $PSCommandPath -Need Root, Bubblewrap, DebianBuilder -RootFor 'building the bookworm image as root'
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'PesterStore.ps1')
    $null = New-PesterStore -Tag scenario
    $null = Get-SharedBookworm -Name bookworm
    # What a suite's BeforeAll does: provision once; the next run of the same line is a cache hit.
    $script:app = New-SandboxImage -Name app -From bookworm -Network Host -Run sh, -c, 'apt-get update && apt-get install -y --no-install-recommends jq'
    $script:again = New-SandboxImage -Name app -From bookworm -Network Host -Run sh, -c, 'apt-get update && apt-get install -y --no-install-recommends jq'
}

AfterAll { Remove-PesterStore }

Describe 'Tests in fresh sandboxes of a derived image' -Skip:([bool]$script:skipReason) {
    It 'derived app once: it is bookworm plus its own layer, and the same derive again returned it' {
        $script:app.Parent | Should -Be 'bookworm'
        $script:app.LayerSize | Should -BeLessThan ((Get-SandboxImage -Name bookworm).TotalSize)
        $script:again.Id | Should -Be $script:app.Id
        $script:again.Created | Should -Be $script:app.Created
    }

    It 'test <_> runs jq in a fresh sandbox of app, and leaves nothing for the next' -ForEach (1..10) {
        $sandbox = Enter-Sandbox -Image app -Provider Bubblewrap
        try {
            $version = Invoke-SandboxCommand -Sandbox $sandbox -Command jq, --version -Check
            $version.StdOut | Should -Match '^jq-1\.'
            # Whatever one test writes is gone for the next: each starts from app as published.
            (Invoke-SandboxCommand -Sandbox $sandbox -Command sh, -c, 'test -e /root/previous-test && echo dirty; touch /root/previous-test').StdOut | Should -BeNullOrEmpty
        }
        finally { $sandbox | Remove-Sandbox -Confirm:$false }
    }
}
