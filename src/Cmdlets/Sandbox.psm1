# The module's root. The cmdlets live in Sandbox.Cmdlets.dll, a nested module imported before this
# script runs; importing it reaps the user's orphaned sandboxes (ModuleLifetime). A binary module
# cannot write to the warning stream on import, so this script says what that reap removed.
$reaped = [Sandbox.Commands.Infrastructure.ModuleLifetime]::TakeReaped()
if ($reaped.Count -gt 0) {
    Write-Warning ("Import-Module Sandbox removed {0} orphaned sandbox(es) left by sessions that died: {1}" -f
        $reaped.Count, ($reaped -join ', '))
}
Export-ModuleMember -Cmdlet *
