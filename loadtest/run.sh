#!/usr/bin/env bash
# The short side-by-side run: installs nginx and wrk if missing, builds release binaries, and runs
# sluice-loadtest with its defaults: nginx, bare Pingora and Sluice in every cell (1 and 2
# workers, keepalive and close, 64 and 1,024 connections, 1 and 10k Ingresses, 3 s per cell,
# latency at half load), plus the 10k-Ingress scale check. `loadtest/run.sh ir` counts
# instructions per request under callgrind instead (installs valgrind). Extra arguments go to
# sluice-loadtest (see --help). Results: target/loadtest/.
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v cmake >/dev/null || need+=(cmake)
command -v taskset >/dev/null || need+=(util-linux)
if [ "${1:-}" = ir ]; then command -v valgrind >/dev/null || need+=(valgrind); fi
if [ ${#need[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release --locked --bin sluice --bin sluice-loadtest --bin bare-pingora
exec target/release/sluice-loadtest "$@"
