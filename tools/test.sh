#!/usr/bin/env bash
# Runs every test: the engine against the real tools (as root and as an unprivileged user the
# tests create), the cmdlet contracts from the built assembly, and the Pester suite when pwsh is
# on PATH. Run tools/setup.sh first. Provider tests need root: run as root (CI does) or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

status=0
dotnet test Sandbox.sln -c Release --no-build \
  --logger "console;verbosity=normal" --logger "trx" --results-directory "$results" || status=$?

# One line with the totals of every test assembly, skipped tests counted apart from passed ones.
total_passed=0; total_failed=0; total_skipped=0
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$(get passed); failed=$(get failed); executed=$(get executed); total=$(get total)
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed + (executed - passed - failed)))
  total_skipped=$((total_skipped + total - executed))
done

pester_passed=0; pester_failed=0; pester_skipped=0
if command -v pwsh >/dev/null; then
  pwsh -NoLogo -NoProfile -File tests/Pester/Invoke-PesterSuite.ps1 -ResultFile "$results/pester.counts" || status=$?
  if [ -s "$results/pester.counts" ]; then
    read -r pester_passed pester_failed pester_skipped < "$results/pester.counts"
  else
    echo "The Pester suite ended without reporting its results." >&2
    pester_failed=1; status=1
  fi
elif [ -n "${CI:-}" ]; then
  echo "FAILED: the Pester suite cannot run in CI because pwsh is not on PATH." >&2
  pester_failed=1; status=1
else
  echo "SKIPPED: the Pester suite (tests/Pester), because pwsh is not on PATH."
fi

# Lint: PSScriptAnalyzer over the manifest, build.ps1 and the Pester scripts (build/Invoke-ScriptAnalysis.ps1);
# any finding fails the run, reported on its own line below.
# It counts as one check in the closing line.
lint="skipped"; lint_passed=0; lint_failed=0; lint_skipped=0
if command -v pwsh >/dev/null; then
  if pwsh -NoLogo -NoProfile -File build/Invoke-ScriptAnalysis.ps1; then lint="passed"; lint_passed=1
  else lint="FAILED"; lint_failed=1; status=1; fi
elif [ -n "${CI:-}" ]; then
  echo "FAILED: PSScriptAnalyzer cannot run in CI because pwsh is not on PATH." >&2
  lint="FAILED"; lint_failed=1; status=1
else
  echo "SKIPPED: PSScriptAnalyzer, because pwsh is not on PATH."
  lint_skipped=1
fi

# Name every failed xunit test with the first lines of its message, at the end where a truncated
# log still shows them (CI prints only the head and the tail of a long run).
if command -v pwsh >/dev/null && ls "$results"/*.trx >/dev/null 2>&1; then
  TRX_FOLDER="$results" pwsh -NoLogo -NoProfile -NonInteractive -Command '
    foreach ($file in Get-ChildItem $env:TRX_FOLDER -Filter *.trx) {
      $trx = [xml](Get-Content -Raw -LiteralPath $file.FullName) # -LiteralPath: vstest names a second run of the same second "...[1].trx", a wildcard to -Path
      # A run with no results gives $null, which a pipeline would still pass through once.
      $results = @($trx.TestRun.Results.UnitTestResult | Where-Object { $null -ne $_ })
      foreach ($result in $results | Where-Object outcome -ne "Passed" | Where-Object outcome -ne "NotExecuted") {
        $message = "$($result.Output.ErrorInfo.Message)" -split "\n" | Select-Object -First 6
        "FAILED xunit: $($result.testName) ($($result.duration))"
        $message | ForEach-Object { "    $_" }
      }
    }' || true
fi

echo "xunit: ${total_passed} passed, ${total_failed} failed, ${total_skipped} skipped"
echo "pester: ${pester_passed} passed, ${pester_failed} failed, ${pester_skipped} skipped"
echo "lint: ${lint} (PSScriptAnalyzer, default rules)"
# The closing line counts both runners and the lint check together.
echo "total: $((total_passed + pester_passed + lint_passed)) passed, $((total_failed + pester_failed + lint_failed)) failed, $((total_skipped + pester_skipped + lint_skipped)) skipped"
exit $status
