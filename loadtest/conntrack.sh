#!/usr/bin/env bash
# Conntrack cost of ingress setups, measured in network namespaces this script creates (and
# removes): client ns -> node ns (Sluice) -> origin ns (nginx), joined by veth pairs on
# 198.18.0.0/15 (the benchmarking range; no other address is ever used). The node namespace has
# conntrack active, as any Kubernetes node has (kube-proxy's rules need it).
#
# Cells: (a) hostNetwork-style direct listening vs hostPort-style iptables DNAT in front of Sluice,
# (b) keepalive vs short-lived client connections, (c) upstream keepalive pooling on vs off
# (the origin closing after each response), (d) with raw-table NOTRACK for the listener.
# For each: nf_conntrack_count growth in the node namespace per 1,000 requests, and Sluice's
# CPU-us per request. Usage (root): loadtest/conntrack.sh [seconds-per-cell]   Output: Markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-3}
BIN=${SLUICE:-target/release/sluice}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
for c in nginx wrk conntrack iptables ip; do command -v $c >/dev/null || need+=($c); done
if [ ${#need[@]} -gt 0 ]; then
  pk=(); for c in "${need[@]}"; do case $c in nginx) pk+=(nginx-light);; ip) pk+=(iproute2);; *) pk+=($c);; esac; done
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pk[@]}" >/dev/null
fi
[ -x "$BIN" ] || cargo build --release --locked --bin sluice

T=$(mktemp -d); P=slc$$
C=${P}c; N=${P}n; O=${P}o
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for ns in $C $N $O; do ip netns del $ns 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
for ns in $C $N $O; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add ${P}a type veth peer name ${P}b; ip link set ${P}a netns $C; ip link set ${P}b netns $N
ip link add ${P}d type veth peer name ${P}e; ip link set ${P}d netns $N; ip link set ${P}e netns $O
ip -n $C addr add 198.18.1.1/24 dev ${P}a; ip -n $N addr add 198.18.1.2/24 dev ${P}b
ip -n $N addr add 198.18.2.1/24 dev ${P}d; ip -n $O addr add 198.18.2.2/24 dev ${P}e
for x in "$C ${P}a" "$N ${P}b" "$N ${P}d" "$O ${P}e"; do set -- $x; ip -n $1 link set $2 up; done
ip netns exec $N sysctl -qw net.ipv4.tcp_tw_reuse=1
# Conntrack on in the node, as on a Kubernetes node.
ip netns exec $N iptables -A INPUT -m conntrack --ctstate INVALID -j DROP

origin() { # $1: keepalive_timeout
  cat > $T/origin.conf <<CONF
worker_processes 1; pid $T/origin.pid; error_log $T/origin.err warn; events { worker_connections 8192; }
http { access_log off; keepalive_timeout $1; keepalive_requests 1000000;
  server { listen 198.18.2.2:8081 reuseport backlog=4096; location / { return 200 "ok\n"; } } }
CONF
  ip netns exec $O nginx -e stderr -g "daemon off;" -c $T/origin.conf & pids+=($!)
  sleep 0.5
}
mkdir -p $T/m
cat > $T/m/routes.yaml <<YAML
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: sluice}
spec: {controller: sluice.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: origin, namespace: bench}
spec: {ports: [{port: 80, targetPort: 8081}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: origin-1, namespace: bench, labels: {kubernetes.io/service-name: origin}}
addressType: IPv4
ports: [{port: 8081}]
endpoints: [{addresses: [198.18.2.2]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: app, namespace: bench}
spec: {ingressClassName: sluice, defaultBackend: {service: {name: origin, port: {number: 80}}}}
YAML
ip netns exec $N "$BIN" --manifests $T/m --http-addr 198.18.1.2:80 --https-addr 198.18.1.2:443 \
  --admin-addr 127.0.0.1:10254 --threads 1 --disable-access-log --shutdown-grace-period 0s > $T/sluice.log 2>&1 & SL=$!; pids+=($SL)
sleep 1
ticks() { awk '{print $14+$15}' /proc/$SL/stat; }
count() { ip netns exec $N cat /proc/sys/net/netfilter/nf_conntrack_count; }
tck=$(getconf CLK_TCK)

cell() { # name port client-mode
  local name=$1 port=$2 mode=$3 hdr=()
  [ "$mode" = close ] && hdr=(-H "Connection: close")
  ip netns exec $N conntrack -F >/dev/null 2>&1 || true
  sleep 0.2
  local c0 t0 out req c1 t1
  c0=$(count); t0=$(ticks)
  out=$(ip netns exec $C wrk -t1 -c32 -d${D}s "${hdr[@]}" http://198.18.1.2:$port/ 2>&1)
  t1=$(ticks); c1=$(count)
  req=$(echo "$out" | awk '/requests in/{print $1}')
  printf '| %s | %s | %s | %d | %.1f | %.1f |\n' "$name" "$mode" "$UPSTREAM" "$req" \
    "$(echo "($c1-$c0)*1000/$req" | bc -l)" "$(echo "($t1-$t0)*1000000/$tck/$req" | bc -l)"
}

echo "| listener | client | upstream pool | requests | conntrack entries per 1,000 requests | Sluice CPU-us/req |"
echo "|---|---|---|---|---|---|"
for UPSTREAM in on off; do
  if [ $UPSTREAM = on ]; then origin 75s; else origin 0; fi
  ip netns exec $N iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 198.18.1.2:80
  for mode in keepalive close; do
    cell "hostNetwork (direct :80)" 80 $mode
    cell "hostPort-style DNAT :8080 -> :80" 8080 $mode
  done
  ip netns exec $N iptables -t nat -F
  ip netns exec $N iptables -t raw -A PREROUTING -p tcp --dport 80 -j NOTRACK
  ip netns exec $N iptables -t raw -A OUTPUT -p tcp --sport 80 -j NOTRACK
  for mode in keepalive close; do cell "direct :80 + NOTRACK" 80 $mode; done
  ip netns exec $N iptables -t raw -F
  kill -INT "$(cat $T/origin.pid)"; sleep 0.5
done
