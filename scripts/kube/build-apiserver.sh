#!/usr/bin/env bash
# Builds a real kube-apiserver v1.20.2 from Debian bookworm's `kubernetes` source package with
# Debian's Go, offline except for Debian's archive. The binary is cached at $APISERVER (default
# ~/.cache/sluice/kube-apiserver-v1.20.2) and rebuilt only when missing.
# Recipe and gotchas: ../shared/reference/kube-testing.md (GOPATH mode, gen_openapi, reflect2 fix).
set -euo pipefail
CACHE=${SLUICE_CACHE:-$HOME/.cache/sluice}
APISERVER=${APISERVER:-$CACHE/kube-apiserver-v1.20.2}
if [ -x "$APISERVER" ] && "$APISERVER" --version 2>/dev/null | grep -q v1.20.2; then
  echo "$APISERVER"
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
command -v go >/dev/null || need+=(golang-go)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
W=$CACHE/build-apiserver
rm -rf "$W" && mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/src" && chmod 777 "$W/src"
printf 'deb http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian bookworm main\n' > "$W/sources.list"
O=(-o "Dir::Etc::SourceList=$W/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$W/lists" -o "Dir::Cache=$W/cache")
apt-get "${O[@]}" update -qq
cd "$W/src"
apt-get "${O[@]}" source --download-only -qq kubernetes=1.20.5+really1.20.2-1.1+deb12u1 2>&1 | grep -v unsandboxed || true
apt-get "${O[@]}" download -qq golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev 2>&1 | grep -v unsandboxed || true
tar xzf kubernetes_1.20.5+really1.20.2.orig.tar.gz
for f in golang-github-modern-go-reflect2-dev_*.deb golang-github-json-iterator-go-dev_*.deb; do dpkg -x "$f" debx; done
# Go >= 1.18 crashes with the vendored reflect2 1.0.1: use Debian's reflect2 1.0.2 / json-iterator 1.1.12.
K=kubernetes-1.20.2
rm -rf $K/vendor/github.com/modern-go/reflect2 $K/vendor/github.com/json-iterator/go
cp -r debx/usr/share/gocode/src/github.com/modern-go/reflect2 $K/vendor/github.com/modern-go/reflect2
cp -r debx/usr/share/gocode/src/github.com/json-iterator/go $K/vendor/github.com/json-iterator/go
export GOPATH=$W/gopath GO111MODULE=off CGO_ENABLED=0 GOPROXY=off GOFLAGS= GOCACHE=$W/gocache
mkdir -p "$GOPATH/src/k8s.io" && ln -sfn "$W/src/$K" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"
make gen_openapi >/dev/null
LD="-s -w"
for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=v1.20.2 -X $p.gitMajor=1 -X $p.gitMinor=20 -X $p.gitTreeState=clean"
done
go build -tags selinux,notest -ldflags "$LD" -o "$APISERVER.tmp" ./cmd/kube-apiserver
mv "$APISERVER.tmp" "$APISERVER"
cd / && rm -rf "$W"
echo "$APISERVER"
