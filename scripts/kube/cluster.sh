#!/usr/bin/env bash
# A real test cluster on loopback: Debian's etcd plus kube-apiserver v1.20.2 (built by
# build-apiserver.sh), with the discovery.k8s.io/v1 EndpointSlice CRD shim.
#
#   cluster.sh start              starts etcd and the apiserver in $RUN, applies the shim, prints the admin kubeconfig
#   cluster.sh stop               stops both (by the PIDs it wrote)
#   cluster.sh restart-apiserver  restarts only the apiserver (etcd keeps the data)
#   cluster.sh stop-apiserver     stops only the apiserver (every watch is cut); start-apiserver starts it
#   cluster.sh etcd-delete KEY    deletes an object behind the apiserver's back (it is down: a deletion
#                                 Sluice can only learn from the relist)
#   cluster.sh bump-etcd          writes a dummy key so that etcd's revision passes every watcher's (forces 410)
#
# Two kubeconfigs are written: $RUN/kubeconfig (admin, system:masters) and $RUN/sluice.kubeconfig
# (the user system:serviceaccount:sluice:sluice, so that RBAC applies to Sluice exactly as it does to
# its ServiceAccount in a cluster). Nothing here sends traffic anywhere but 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=${RUN:?set RUN to a run directory}
APISERVER=${APISERVER:-${SLUICE_CACHE:-$HOME/.cache/sluice}/kube-apiserver-v1.20.2}
ETCD_PORT=${ETCD_PORT:-23790}
API_PORT=${API_PORT:-16443}
TOKEN=test-admin-token
SLUICE_TOKEN=test-sluice-token
KUBECTL=${KUBECTL:-kubectl}

pki() {
  mkdir -p "$RUN/pki" "$RUN/etcd" "$RUN/log"
  [ -f "$RUN/pki/tokens.csv" ] && return 0
  ( cd "$RUN/pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=kubetest-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile ext.cnf 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    {
      echo "$TOKEN,admin,admin,system:masters"
      echo "$SLUICE_TOKEN,system:serviceaccount:sluice:sluice,sluice-sa,\"system:serviceaccounts,system:serviceaccounts:sluice,system:authenticated\""
    } > tokens.csv )
  for who in admin sluice; do
    local token=$TOKEN file=$RUN/kubeconfig
    [ $who = sluice ] && token=$SLUICE_TOKEN file=$RUN/sluice.kubeconfig
    cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $RUN/pki/ca.crt
users:
- name: $who
  user:
    token: $token
contexts:
- name: kubetest
  context: {cluster: kubetest, user: $who, namespace: default}
current-context: kubetest
KC
  done
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start_etcd() {
  alive etcd && return 0
  etcd --name kubetest --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" \
    --initial-cluster "kubetest=http://127.0.0.1:$((ETCD_PORT+1))" \
    --unsafe-no-fsync >> "$RUN/log/etcd.log" 2>&1 &
  echo $! > "$RUN/etcd.pid"
}

start_apiserver() {
  # discovery.k8s.io/v1beta1 is off so that the CRD shim can own discovery.k8s.io/v1.
  # --allow-privileged=true as kubeadm sets it (the node-tuning init container is privileged).
  "$APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$RUN/pki/apiserver.crt" --tls-private-key-file="$RUN/pki/apiserver.key" \
    --token-auth-file="$RUN/pki/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$RUN/pki/sa.pub" --service-account-signing-key-file="$RUN/pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --disable-admission-plugins=ServiceAccount --allow-privileged=true \
    --runtime-config=discovery.k8s.io/v1beta1=false \
    --profiling=false --v=1 >> "$RUN/log/apiserver.log" 2>&1 &
  echo $! > "$RUN/apiserver.pid"
}

wait_ready() {
  for _ in $(seq 1 600); do
    if curl -fsS -m 1 --cacert "$RUN/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
        "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then
      return 0
    fi
    alive apiserver || { echo "kube-apiserver exited; see $RUN/log/apiserver.log" >&2; tail -5 "$RUN/log/apiserver.log" >&2; return 1; }
    sleep 0.1
  done
  echo "kube-apiserver not ready after 60 s; see $RUN/log" >&2
  return 1
}

shim() {
  local k=("$KUBECTL" --kubeconfig "$RUN/kubeconfig")
  "${k[@]}" apply -f "$HERE/endpointslice-v1-crd.yaml" >/dev/null
  "${k[@]}" wait --for=condition=Established --timeout=30s crd/endpointslices.discovery.k8s.io >/dev/null
  for _ in $(seq 1 100); do
    "${k[@]}" get --raw /apis/discovery.k8s.io/v1 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "discovery.k8s.io/v1 not served" >&2
  return 1
}

stop_one() {
  if alive "$1"; then
    kill "$(cat "$RUN/$1.pid")"
    for _ in $(seq 1 100); do alive "$1" || break; sleep 0.1; done
    alive "$1" && kill -9 "$(cat "$RUN/$1.pid")"
  fi
  rm -f "$RUN/$1.pid"
}

case "${1:-start}" in
  start) pki; start_etcd; start_apiserver; wait_ready; shim; echo "$RUN/kubeconfig" ;;
  stop) stop_one apiserver; stop_one etcd ;;
  restart-apiserver) stop_one apiserver; start_apiserver; wait_ready ;;
  stop-apiserver) stop_one apiserver ;;
  start-apiserver) start_apiserver; wait_ready ;;
  bump-etcd) ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" put /kubetest/bump "$(date +%s%N)" >/dev/null ;;
  etcd-delete) ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_PORT" del "$2" ;;
  *) echo "usage: $0 start|stop|restart-apiserver|stop-apiserver|start-apiserver|bump-etcd|etcd-delete KEY" >&2; exit 2 ;;
esac
