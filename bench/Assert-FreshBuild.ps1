# Dot-sourced by the bench scripts before they import out/Sandbox: a figure measured on a module
# built before the latest source change describes code that no longer exists (it happened: the
# cmdlet bench once timed the old launch chain). bench/run.sh builds first; run directly, build first.
$engine = Join-Path $PSScriptRoot '../out/Sandbox/Sandbox.Engine.dll'
$sources = Join-Path $PSScriptRoot '../src'
if (-not (Test-Path $engine)) {
    throw "out/Sandbox is not built: run 'dotnet build -c Release src/Cmdlets' (or bash bench/run.sh, which builds first)."
}
$builtAt = (Get-Item $engine).LastWriteTimeUtc
$newer = Get-ChildItem $sources -Recurse -File -Include *.cs, *.csproj, *.ps1xml, *.psm1 |
    Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' -and $_.LastWriteTimeUtc -gt $builtAt } |
    Select-Object -First 1
if ($newer) {
    throw "out/Sandbox is older than $($newer.FullName): run 'dotnet build -c Release src/Cmdlets' (or bash bench/run.sh, which builds first)."
}
