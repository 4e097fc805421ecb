# PSScriptAnalyzer settings for tests/Pester: the default rules, less three that do not fit test
# scripts, each for the reason written beside it. build.ps1 and the module manifest are checked
# with every default rule (build/Invoke-ScriptAnalysis.ps1).
@{
    ExcludeRules = @(
        # Each test file writes one "SKIPPED: <file>: <why>" line to the console during discovery,
        # beside Pester's own console output, so that a skip is seen in the CI log; nothing reads the
        # pipeline there.
        'PSAvoidUsingWriteHost'
        # Helpers like New-BusyboxTree or Remove-CmdletsTestStore only make and remove the tests'
        # own temporary folders; -WhatIf/-Confirm would mean nothing there.
        'PSUseShouldProcessForStateChangingFunctions'
        # Test-local helpers are named for how the test reads (Send-Keys sends keystrokes); none is
        # exported, so the module naming guideline does not apply.
        'PSUseSingularNouns'
        # False positive for Start-ThreadJob -ArgumentList with a param() block (Nspawn.Tests.ps1):
        # the script block's variables are its parameters, not the caller's.
        'PSUseUsingScopeModifierInNewRunspaces'
    )
}
