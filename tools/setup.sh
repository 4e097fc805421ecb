#!/usr/bin/env bash
# Sets up a Debian/Ubuntu machine for Sandbox and builds it: installs the Debian packages the
# providers and tests use, then builds the solution, which also lays out the importable module
# folder out/Sandbox. Needs root (or sudo) for apt-get; needs the .NET 10 SDK on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(
  bubblewrap          # Bubblewrap provider
  systemd-container   # Nspawn provider (systemd-nspawn)
  fakechroot fakeroot   # FakeChroot provider (cowdancer is not used: see FakeChrootProvider)
  mmdebstrap debootstrap          # image builders
  eatmydata dpkg-dev  # image builds skip fsync (mmdebstrap's eatmydata hooks, which call dpkg-architecture)
  util-linux uidmap   # unshare, newuidmap/newgidmap for rootless id ranges
  time                # measures each command's peak memory (see PeakMemoryMeter)
  strace              # Invoke-SandboxCommand -Trace (the tracer runs on the host side, see Tracing/CommandTracer)
  busybox-static      # the tiny image the fast tests use
  passwd              # useradd, for the tests' unprivileged user
  tmux                # drives the interactive-shell test through a terminal
  gcc libc6-dev       # builds the static keystroke injector the TIOCSTI tests plant in a sandbox
  attr                # setfattr: the test of an xattr a root build's copy out of memory cannot keep
  tar zstd gzip ca-certificates
)
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"

if ! command -v dotnet >/dev/null; then
  echo "The .NET 10 SDK is needed: https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
  exit 1
fi
dotnet build Sandbox.sln -c Release
echo "Built: out/Sandbox (Import-Module ./out/Sandbox)"
