#!/usr/bin/env bash
# Runs Sluice locally on the bundled manifests (examples/manifests), with echo backends on
# 127.0.0.2-127.0.0.5:9001. No cluster, no Docker. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
HTTPS_ADDR="${HTTPS_ADDR:-127.0.0.1:8443}"
ADMIN_ADDR="${ADMIN_ADDR:-127.0.0.1:10254}"

if ! command -v cmake >/dev/null; then
  echo "installing cmake (needed to build Pingora's zlib)" >&2
  ${SUDO:-$( [ "$(id -u)" = 0 ] || echo sudo )} apt-get install -y cmake >/dev/null
fi
cargo build --release --bin sluice

# A self-signed certificate for app.example.com, as a kubernetes.io/tls Secret manifest.
gen=examples/manifests/generated
if [ ! -f "$gen/app-tls.yaml" ]; then
  mkdir -p "$gen"
  tmp=$(mktemp -d)
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=app.example.com" \
    -addext "subjectAltName=DNS:app.example.com" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
  {
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: app-tls, namespace: demo}\ntype: kubernetes.io/tls\ndata:\n'
    printf '  tls.crt: %s\n' "$(base64 -w0 "$tmp/cert.pem")"
    printf '  tls.key: %s\n' "$(base64 -w0 "$tmp/key.pem")"
  } > "$gen/app-tls.yaml"
  rm -rf "$tmp"
fi
bin=target/release/sluice

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
$bin echo --name blue --listen 127.0.0.2:9001 --listen 127.0.0.3:9001 & pids+=($!)
$bin echo --name green --listen 127.0.0.4:9001 & pids+=($!)
$bin echo --name fallback --listen 127.0.0.5:9001 & pids+=($!)
$bin --manifests examples/manifests --http-addr "$HTTP_ADDR" --https-addr "$HTTPS_ADDR" \
  --admin-addr "$ADMIN_ADDR" --threads 1 & pids+=($!)

hp=${HTTPS_ADDR##*:}; hh=${HTTPS_ADDR%:*}
for _ in $(seq 50); do curl -sf "http://$ADMIN_ADDR/readyz" >/dev/null && break; sleep 0.1; done
cat <<MSG

Sluice is routing on http://$HTTP_ADDR and https://$HTTPS_ADDR (admin on http://$ADMIN_ADDR). Try:

  curl -sk --resolve app.example.com:$hp:$hh https://app.example.com:$hp/        # blue over HTTPS/2, alternating .2/.3
  curl -sk --resolve app.example.com:$hp:$hh https://app.example.com:$hp/api/v1  # green
  curl -si -H 'Host: app.example.com' http://$HTTP_ADDR/x?y=1    # 308 to https (the host has TLS)
  curl -s  -H 'Host: other.example'   http://$HTTP_ADDR/         # fallback (spec.defaultBackend)
  curl -s http://$ADMIN_ADDR/metrics | grep nginx_ingress_controller_requests
  curl -s -H 'Host: shop.example.com' http://127.0.0.10:8080/   # Gateway API: an HTTPRoute, blue 3 : green 1
  curl -s http://$ADMIN_ADDR/status/gateways                     # its Gateway and route status

Edit examples/manifests/20-ingress.yaml (say, swap blue and green): the change is live within a second.
Ctrl-C to stop.
MSG
wait
