# The module's root. The cmdlets live in Sandbox.Cmdlets.dll, a nested module imported before this
# script runs; importing it reaps the user's orphaned sandboxes (ModuleLifetime). A binary module
# cannot write to the warning stream on import, so this script says what that reap removed.
$reaped = [Sandbox.Commands.Infrastructure.ModuleLifetime]::TakeReaped()
if ($reaped.Count -gt 0) {
    $message = 'Import-Module Sandbox removed {0} orphaned sandbox(es) left by sessions that died: {1}' -f
        $reaped.Count, ($reaped -join ', ')
    # A host with only the core cmdlets (an SDK-hosted runspace) has no Write-Warning: tell its UI.
    if (Get-Command Write-Warning -ErrorAction Ignore) { Write-Warning $message }
    elseif ($Host.UI) { $Host.UI.WriteWarningLine($message) }
}
Export-ModuleMember -Cmdlet *
