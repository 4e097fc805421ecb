#!/usr/bin/env bash
# Runs the bench: each engine path against the raw tool it drives (and podman), medians and ratios
# in one run. As root; the FakeChroot part runs as the unprivileged user 'sandbox-test' (the
# provider refuses root), created here if missing, as the tests do.
# Installs podman and runc first if they are missing (the tests do not need them).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  apt-get install -y -q --no-install-recommends podman runc
fi
dotnet build -c Release bench/Sandbox.Bench >/dev/null
# The cmdlet level (bench/cmdlets.ps1) imports the module from out/Sandbox.
dotnet build -c Release src/Cmdlets >/dev/null
[[ " $* " == *" --builds "* ]] && exec pwsh -NoProfile -File bench/base-builds.ps1 # base builds only: ~10 min (3 rounds of raw, cold, warm)
bench_dir="$(mktemp -d)"
trap 'rm -rf "$bench_dir"' EXIT
cp -r bench/Sandbox.Bench/bin/Release/net10.0/. "$bench_dir/"
chmod -R a+rX "$bench_dir"
dotnet "$bench_dir/Sandbox.Bench.dll" "$@"
[[ " $* " == *" --trace "* ]] && exit 0 # --trace: only what Invoke-SandboxCommand -Trace costs (TraceBench)
# The same Bubblewrap paths through the cmdlets in the real pwsh, and many sandboxes at once there.
runs=30
[[ "${1:-}" == "--runs" ]] && runs="$2"
pwsh_args=(-Runs "$runs")
[[ " $* " == *" --parallel "* ]] && pwsh_args+=(-ParallelOnly)
pwsh -NoProfile -File bench/cmdlets.ps1 "${pwsh_args[@]}"
[[ " $* " == *" --parallel "* ]] || pwsh -NoProfile -File bench/derive.ps1 -Runs "$runs"   # derived images: cache hit, Enter, disk, the 10-test scenario
# --parallel measures only the parallel sections, which run as root.
[[ " $* " == *" --parallel "* ]] && exit 0
id sandbox-test >/dev/null 2>&1 || useradd --create-home --shell /bin/sh --comment "Sandbox module tests" sandbox-test
(cd /tmp && runuser -u sandbox-test -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/sandbox-test \
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet "$bench_dir/Sandbox.Bench.dll" "$@" --fakechroot)
