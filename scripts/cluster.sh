#!/usr/bin/env bash
# A local Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver and kube-controller-manager, built by
# scripts/install-tools.sh (tool "cluster"). No nodes and no container runtime: the API server stores and
# validates everything (CRDs and their CEL rules, server-side apply, field managers, admission), the controller
# manager garbage-collects and deletes namespaces, and pods are accepted but never run.
#
#   scripts/cluster.sh start        # idempotent; first start generates certs; prints the kubeconfig path
#   scripts/cluster.sh stop         # stops exactly the processes this script started (data is kept)
#   scripts/cluster.sh status       # exit 0 when all three are running and the API server is ready
#   scripts/cluster.sh kubeconfig   # prints the kubeconfig path
#   scripts/cluster.sh delete       # stop, then remove data, certs and logs
#
# Environment:
#   MESH_ROLLOUT_CLUSTER_DIR        state dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/mesh-rollout/cluster):
#                                   certs/, etcd/, logs/<component>.log, run/<component>.pid, kubeconfig
#   MESH_ROLLOUT_CLUSTER_API_PORT   API server port (default 16443)
#   MESH_ROLLOUT_CLUSTER_ETCD_PORT  etcd client port (default 23790)
#   MESH_ROLLOUT_CLUSTER_ETCD_PEER_PORT  etcd peer port (default: the client port + 10)
#   MESH_ROLLOUT_CLUSTER_KCM_PORT   controller manager health port (default 16257)
#   MESH_ROLLOUT_TOOLS_DIR          where install-tools.sh put the binaries (used when they are not on PATH)
# See docs/local-cluster.md.
set -euo pipefail

DIR=${MESH_ROLLOUT_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-rollout/cluster}
API_PORT=${MESH_ROLLOUT_CLUSTER_API_PORT:-16443}
ETCD_PORT=${MESH_ROLLOUT_CLUSTER_ETCD_PORT:-23790}
ETCD_PEER_PORT=${MESH_ROLLOUT_CLUSTER_ETCD_PEER_PORT:-$((ETCD_PORT + 10))}
KCM_PORT=${MESH_ROLLOUT_CLUSTER_KCM_PORT:-16257}
TOOLS_BIN=${MESH_ROLLOUT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesh-rollout/tools}/bin
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
# A private range the API server only does bookkeeping with: it never dials a Service IP here, because
# --enable-aggregator-routing sends webhook and aggregated-API calls to endpoints (and there are none).
SERVICE_CIDR=10.231.0.0/24

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
CERTS=$DIR/certs RUN=$DIR/run LOGS=$DIR/logs KUBECONFIG_FILE=$DIR/kubeconfig

binary() { # NAME -> path
  local p
  if p=$(command -v "$1" 2>/dev/null); then printf '%s' "$p"; return; fi
  [[ -x $TOOLS_BIN/$1 ]] && { printf '%s' "$TOOLS_BIN/$1"; return; }
  die "$1 not found on PATH or in $TOOLS_BIN: run scripts/install-tools.sh cluster"
}

pid_of() { # COMPONENT -> pid if the process we started is alive (same binary, our state dir)
  local f=$RUN/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  [[ -r /proc/$pid/cmdline ]] || return 1
  # The pid file alone is not proof: the pid may have been reused. Our processes name our state dir.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$1" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR" || return 1
  printf '%s' "$pid"
}

port_taken() { # PORT -> true if something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

who_listens() { # PORT -> a description of the listener, if ss can tell
  command -v ss >/dev/null 2>&1 || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n -E 's/.*users:\(\((.*)\)\).*/\1/p' | head -n1
}

check_port() { # COMPONENT PORT
  local who
  if port_taken "$2"; then
    who=$(who_listens "$2")
    die "port 127.0.0.1:$2 (for $1) is already in use${who:+ by $who}; stop that process or choose another port \
(MESH_ROLLOUT_CLUSTER_API_PORT / _ETCD_PORT / _ETCD_PEER_PORT / _KCM_PORT)"
  fi
}

wait_for() { # WHAT SECONDS COMMAND...
  local what=$1 deadline=$(( $(date +%s) + $2 )); shift 2
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > deadline )); then return 1; fi
    sleep 0.3
  done
  log "$what ready"
}

https_ok() { # URL
  curl -sf --max-time 2 --cacert "$CERTS/ca.crt" --cert "$CERTS/admin.crt" --key "$CERTS/admin.key" "$1"
}

# ---------------------------------------------------------------- certificates
gen_certs() {
  [[ -f $CERTS/ca.crt && -f $CERTS/apiserver.crt && -f $CERTS/admin.crt && -f $CERTS/sa.key ]] && return
  command -v openssl >/dev/null 2>&1 || die "openssl is needed to generate the cluster's certificates"
  log "generating certificates in $CERTS"
  rm -rf "$CERTS"; mkdir -p "$CERTS"; chmod 700 "$CERTS"
  (
    cd "$CERTS"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=mesh-rollout-local-ca" 2>/dev/null
    cat >apiserver.ext <<'EOF'
subjectAltName = IP:127.0.0.1, IP:10.231.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage = serverAuth
EOF
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 \
      -extfile apiserver.ext 2>/dev/null
    printf 'extendedKeyUsage = clientAuth\n' >client.ext
    # system:masters: the admin identity (the kubeconfig, and the controller manager's client).
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 \
      -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext
    chmod 600 ./*.key
  )
}

write_kubeconfig() {
  local ca cert key
  ca=$(base64 -w0 <"$CERTS/ca.crt"); cert=$(base64 -w0 <"$CERTS/admin.crt"); key=$(base64 -w0 <"$CERTS/admin.key")
  umask 077
  cat >"$KUBECONFIG_FILE.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mesh-rollout-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: mesh-rollout-local-admin
  user:
    client-certificate-data: $cert
    client-key-data: $key
contexts:
- name: mesh-rollout-local
  context: {cluster: mesh-rollout-local, user: mesh-rollout-local-admin}
current-context: mesh-rollout-local
EOF
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

# ---------------------------------------------------------------- processes
launch() { # COMPONENT ARGS... : start in its own session, so it outlives this script and is stopped by pid
  local name=$1 bin; shift
  bin=$(binary "$name")
  printf '\n==== %s start %s\n' "$(date -u +%FT%TZ)" "$name" >>"$LOGS/$name.log"
  setsid "$bin" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

start() {
  mkdir -p "$RUN" "$LOGS"
  local running=0 c
  for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null && running=$((running + 1)); done
  if (( running == ${#COMPONENTS[@]} )) && https_ok "https://127.0.0.1:$API_PORT/readyz" >/dev/null; then
    log "already running (API server https://127.0.0.1:$API_PORT)"
    printf '%s\n' "$KUBECONFIG_FILE"; return
  fi
  (( running == 0 )) || { log "partly running: restarting"; stop; }
  check_port etcd "$ETCD_PORT"; check_port etcd-peer "$ETCD_PEER_PORT"
  check_port kube-apiserver "$API_PORT"; check_port kube-controller-manager "$KCM_PORT"
  gen_certs
  write_kubeconfig

  # A throwaway cluster: fsync off makes etcd (and so every apply) several times faster; a crash loses data.
  launch etcd --name local --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" ||
    { stop; die "etcd did not become healthy in 30 s; see $LOGS/etcd.log"; }

  launch kube-apiserver --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --endpoint-reconciler-type none --service-cluster-ip-range "$SERVICE_CIDR" \
    --enable-aggregator-routing=true \
    --cert-dir "$DIR/run/apiserver-certs" \
    --tls-cert-file "$CERTS/apiserver.crt" --tls-private-key-file "$CERTS/apiserver.key" \
    --client-ca-file "$CERTS/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$CERTS/sa.pub" --service-account-signing-key-file "$CERTS/sa.key" \
    --authorization-mode RBAC --allow-privileged=true --profiling=false --v=1
  wait_for kube-apiserver 90 https_ok "https://127.0.0.1:$API_PORT/readyz" ||
    { stop; die "kube-apiserver did not become ready in 90 s; see $LOGS/kube-apiserver.log"; }

  # Garbage collection (pulumi-kubernetes deletes with foreground propagation) and namespace deletion need it.
  launch kube-controller-manager --kubeconfig "$KUBECONFIG_FILE" \
    --authentication-kubeconfig "$KUBECONFIG_FILE" --authorization-kubeconfig "$KUBECONFIG_FILE" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$DIR/run/kcm-certs" \
    --leader-elect=false --service-account-private-key-file "$CERTS/sa.key" --root-ca-file "$CERTS/ca.crt" \
    --controllers '*,-node-ipam-controller,-node-lifecycle-controller,-persistentvolume-attach-detach-controller,-ttl-controller,-taint-eviction-controller,-device-taint-eviction-controller' \
    --profiling=false --v=1
  wait_for kube-controller-manager 60 curl -skf --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz" ||
    { stop; die "kube-controller-manager did not become healthy in 60 s; see $LOGS/kube-controller-manager.log"; }
  log "running: API server https://127.0.0.1:$API_PORT, kubeconfig $KUBECONFIG_FILE, logs $LOGS (no nodes: pods never run)"
  printf '%s\n' "$KUBECONFIG_FILE"
}

stop() {
  local c pid i
  for c in kube-controller-manager kube-apiserver etcd; do
    if pid=$(pid_of "$c"); then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then log "$c ($pid) ignored SIGTERM for 20 s: SIGKILL"; kill -KILL "$pid" || true; fi
      log "$c stopped (pid $pid)"
    fi
    rm -f "$RUN/$c.pid"
  done
}

status() {
  local c pid rc=0
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then printf '%-24s running (pid %s)\n' "$c" "$pid"
    else printf '%-24s stopped\n' "$c"; rc=1; fi
  done
  if https_ok "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then
    printf '%-24s ready: https://127.0.0.1:%s\nkubeconfig               %s\n' api "$API_PORT" "$KUBECONFIG_FILE"
  else
    printf '%-24s not ready\n' api; rc=1
  fi
  return $rc
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kubeconfig) printf '%s\n' "$KUBECONFIG_FILE" ;;
  delete) stop; rm -rf "$DIR"; log "removed $DIR" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
