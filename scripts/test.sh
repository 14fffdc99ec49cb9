#!/usr/bin/env bash
# The project's test command (the README's second command): installs what a fresh machine
# lacks, then runs rustfmt, clippy and every test. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Pingora's libz-ng-sys builds with cmake. The Kubernetes tier needs etcd, kubectl, openssl and
# curl, and Go to build kube-apiserver (once; the binary is cached under ~/.cache/sluice).
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(build-essential)
command -v etcd >/dev/null || missing+=(etcd-server)
command -v etcdctl >/dev/null || missing+=(etcd-client)
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v go >/dev/null || missing+=(golang-go)
command -v rsync >/dev/null || missing+=(rsync)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
# The differential test runs a real nginx beside Sluice.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

# A fresh clone builds once, so incremental caches (gigabytes) buy nothing; keep the disk small.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "== disk before the build: $(df -h --output=avail . | tail -n 1 | tr -d ' ') free" >&2

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== kube-apiserver (built once, then cached)" >&2
APISERVER=$(bash scripts/kube/build-apiserver.sh | tail -n 1)
export APISERVER
echo "== cargo test (all tiers, the Kubernetes tier included)" >&2
cargo test --workspace --locked -- --include-ignored
echo "== disk after the tests: $(du -sh target 2>/dev/null | cut -f1) in target/, $(df -h --output=avail . | tail -n 1 | tr -d ' ') free" >&2
echo "== fuzz: each parser of hostile input for ${FUZZ_SECONDS:-20} s (cargo-fuzz, no sanitizer: stable Rust)" >&2
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
for target in proxy_protocol annotations manifests uri; do
  mkdir -p "fuzz/corpus/$target"
  cargo fuzz run --sanitizer none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=4096 -print_final_stats=0 2>&1 | tail -n 2
done
