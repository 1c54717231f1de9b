#!/usr/bin/env bash
# A local, loopback-only Kubernetes control plane for tests:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok (fake kubelet)
# with one fake Node and Istio's CRDs installed.
#
#   tools/cluster.sh start    build/reuse binaries, start everything, wait until ready,
#                             print the env lines (idempotent: if healthy, only prints them)
#   tools/cluster.sh stop     stop all processes and delete the cluster data
#   tools/cluster.sh env      print `export KUBECONFIG=...` / `export PATH=...` for eval
#   tools/cluster.sh status   exit 0 if the cluster is healthy
#   tools/cluster.sh kubeconfig-for NAMESPACE...
#                             a deployer with least privilege, for a pipeline: ServiceAccount
#                             oam-deployer in namespace oam-deployer, in each NAMESPACE (created,
#                             labelled istio-injection=enabled, when missing) the Role and
#                             RoleBinding oam-deployer, ClusterRole and ClusterRoleBinding
#                             oam-deployer (the cluster-scoped rules); prints to stdout a
#                             kubeconfig that authenticates as the service account with a token
#                             of OAM_TOKEN_DURATION (default 24h; the API server may shorten it).
#                             Run again with more namespaces to add them (the others stay).
#                             The rules and why each is there: docs/least-privilege.md
#
# State (certs, kubeconfig, etcd data, logs, pids): ${OAM_CLUSTER_DIR:-$HOME/.cache/oam-delivery/cluster}
# Clusters with different OAM_CLUSTER_DIR run side by side, each on its own ports.
# Usage: eval "$(tools/cluster.sh start)"; kubectl get nodes
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${OAM_CLUSTER_DIR:-$HOME/.cache/oam-delivery/cluster}"
istio_api_version="${OAM_ISTIO_API_VERSION:-v1.32.0}"
node_name="oam-node-0"
service_cidr="10.96.0.0/16"      # service ClusterIPs
first_service_ip="10.96.0.1"
cluster_cidr="10.244.0.0/16"     # pod IPs (node podCIDRs are carved from this)
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

pki="$dir/pki"
logs="$dir/logs"
run="$dir/run"                   # pids, ports, bin dir of the running cluster
kubeconfig="$dir/kubeconfig"
cache="${OAM_TOOLS_CACHE:-$HOME/.cache/oam-delivery}"
ports_lock="$cache/cluster-ports.lock"  # machine-wide: held from picking ports until they are bound

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

export GOTOOLCHAIN=local

# --- helpers -----------------------------------------------------------------

bindir() {
  if [[ -f "$run/bindir" && -x "$(cat "$run/bindir")/kubectl" ]]; then cat "$run/bindir"; else "$here/build-kube.sh"; fi
}

kc() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Every TCP port something listens on, on any address (the kernel's tables: a connect to
# 127.0.0.1 misses a listener on another address, and hangs on one whose backlog is full).
listened_ports() {
  local hex
  for hex in $(awk 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    printf ' %d' "$((16#$hex))"
  done
  echo ' '
}

# pick_port VAR PREFERRED: sets VAR to the first free port at or above PREFERRED that was
# not handed out already in this run. Call it with the ports lock held (lock_ports).
taken=" "
pick_port() {
  local p=$2 listened
  listened="$(listened_ports)"
  while [[ "$listened" == *" $p "* || "$taken" == *" $p "* ]] || port_in_use "$p"; do
    p=$((p + 1))
    ((p < 32000)) || die "no free port found from $2"
  done
  taken+="$p "
  printf -v "$1" '%s' "$p"
}

start_time() { # pid -> its start time in clock ticks since boot (field 22 of /proc/PID/stat)
  local stat fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  read -ra fields <<<"${stat##*) }"   # from field 3 on: the command name in (...) may hold spaces
  echo "${fields[19]}"
}

pid_alive() { # name -> 0 if the recorded pid is still the process this cluster started
  local f="$run/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "/$1 " || return 1
  # Pids are reused (a restarted container counts from 1 again), so a stale pid file can name
  # another cluster's etcd: the start time tells them apart. Without one (a cluster started
  # by an older cluster.sh), every component has a path of this cluster's dir in its args.
  if [[ -f "$run/$1.started" ]]; then
    [[ "$(start_time "$pid")" == "$(cat "$run/$1.started")" ]] || return 1
  else
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "=${dir%/}/" || return 1
  fi
}

# listens NAME PORT: 0 once NAME's own process listens on PORT (not merely someone: a port
# another process took meanwhile would otherwise pass for ours).
listens() {
  local pid inode fd hex
  pid="$(cat "$run/$1.pid")"
  printf -v hex '%04X' "$2"
  for inode in $(awk -v p="$hex" 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); if (a[n] == p) print $10 }' \
                   /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    for fd in "/proc/$pid/fd/"*; do
      [[ "$(readlink "$fd" 2>/dev/null)" == "socket:[$inode]" ]] && return 0
    done
  done
  return 1
}

# Starts with other OAM_CLUSTER_DIRs may run at the same moment: between picking a free
# port and the component binding it, the port must not be handed out again. fd 9.
lock_ports() {
  mkdir -p "$cache"
  exec 9>>"$ports_lock"
  if ! flock -n 9; then
    log "waiting for another cluster start to bind its ports"
    flock -w 300 9 || die "timed out after 300s waiting for $ports_lock"
  fi
}
unlock_ports() { flock -u 9; exec 9>&-; }

# One start or stop at a time per cluster (fd 8, on the state dir itself): a second start
# of the same dir waits, then finds it healthy.
lock_cluster() {
  exec 8<"$dir"
  if ! flock -n 8; then
    log "waiting for another start or stop of $dir"
    flock -w 1800 8 || die "timed out after 1800s waiting for another start or stop of $dir"
  fi
}

spawn() { # name args... : detached, own session, log + pid in the state dir
  local name=$1; shift
  # 8>&- 9>&-: the daemons must not inherit (and so keep holding) the locks.
  setsid nohup "$bin/$name" "$@" >"$logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$run/$name.pid"
  start_time $! >"$run/$name.started" || rm -f "$run/$name.started"
  # Until setsid/nohup have exec'd the binary, /proc/PID/cmdline does not name it yet.
  local i
  for ((i = 0; i < 100; i++)); do
    pid_alive "$name" && return 0
    kill -0 "$!" 2>/dev/null || return 0
    sleep 0.02
  done
}

wait_for() { # description timeout-seconds command... (dies on timeout or a dead component)
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what (logs: $logs; clean up: $0 stop)"
    check_processes || die "start failed while waiting for $what (logs: $logs; clean up: $0 stop)"
    sleep 0.3
  done
}

check_processes() {
  local c
  for c in "${components[@]}"; do
    if [[ -f "$run/$c.pid" ]] && ! pid_alive "$c"; then
      log "$c exited; last lines of $logs/$c.log:"
      tail -n 20 "$logs/$c.log" >&2 || true
      return 1
    fi
  done
}

api_ready() { [[ "$(kc get --raw /readyz --request-timeout=5s 2>/dev/null)" == ok ]]; }

healthy() {
  local c
  [[ -f "$kubeconfig" && -f "$run/bindir" ]] || return 1
  for c in "${components[@]}"; do pid_alive "$c" || return 1; done
  bin="$(cat "$run/bindir")"
  api_ready || return 1
  [[ "$(kc get node "$node_name" --request-timeout=5s \
        -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]] || return 1
}

print_env() {
  printf 'export KUBECONFIG=%q\n' "$kubeconfig"
  # shellcheck disable=SC2016 # $PATH is for the caller's eval to expand
  printf 'export PATH=%q:"$PATH"\n' "$1"
}

# --- pieces of start ---------------------------------------------------------

make_pki() {
  [[ -f "$pki/.complete" ]] && return 0
  command -v openssl >/dev/null || {
    log "openssl not found; installing it with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >&2
  }
  log "generating CA, serving certificate, service-account key, token"
  rm -rf "$pki"; mkdir -p "$pki"; chmod 700 "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=oam-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    cat >apiserver.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$first_service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    printf '%s,admin,admin-uid,system:masters\n' "$(openssl rand -hex 24)" >token.csv
    chmod 600 ./*.key token.csv
    touch .complete
  )
}

write_kubeconfig() {
  local token; token="$(cut -d, -f1 "$pki/token.csv")"
  cat >"$kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: oam-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: oam-local
  context:
    cluster: oam-local
    user: admin
current-context: oam-local
EOF
  chmod 600 "$kubeconfig.tmp"; mv "$kubeconfig.tmp" "$kubeconfig"
}

module_dir() { # module@version -> its directory in the Go module cache (downloads if needed)
  (cd / && go mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}

istio_served() {
  local served r
  served="$(kc get --raw /apis/networking.istio.io/v1 --request-timeout=5s)" || return 1
  for r in gateways virtualservices destinationrules; do
    [[ "$served" == *"\"name\":\"$r\""* ]] || return 1
  done
}

node_manifest() {
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node_name
  labels:
    kubernetes.io/hostname: $node_name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: ""
    type: kwok
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
spec: {}
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "2000", ephemeral-storage: 1Ti}
  capacity: {cpu: "1000", memory: 4Ti, pods: "2000", ephemeral-storage: 1Ti}
EOF
}

ingress_gateway_manifest() {
  # What a real Istio installation has: ingress gateway pods labelled istio=ingressgateway in
  # istio-system and their Service on port 80. kwok marks the pods Ready; nothing runs in them.
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  replicas: 1
  selector:
    matchLabels: {app: istio-ingressgateway, istio: ingressgateway}
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway}
    spec:
      containers:
        - name: istio-proxy
          image: docker.io/istio/proxyv2:1.28.0
          ports:
            - {containerPort: 8080, name: http2, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
    - {name: http2, port: 80, targetPort: 8080, protocol: TCP}
EOF
}

# --- commands ------------------------------------------------------------------

term_and_wait() { # component names: SIGTERM together, wait up to 5 s, then SIGKILL
  local c pid pids=() alive i
  for c in "$@"; do
    if pid_alive "$c"; then
      pid="$(cat "$run/$c.pid")"
      log "stopping $c (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for ((i = 0; i < 100 && ${#pids[@]} > 0; i++)); do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    pids=("${alive[@]}")
    ((${#pids[@]} == 0)) || sleep 0.05
  done
  for pid in "${pids[@]}"; do log "pid $pid still running after 5s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; done
}

cmd_stop() {
  # Clients first (the apiserver otherwise waits up to 60 s for their watches), then
  # the apiserver, then etcd.
  term_and_wait kwok kube-scheduler kube-controller-manager
  term_and_wait kube-apiserver
  term_and_wait etcd
  rm -rf "$dir/etcd" "$run" "$kubeconfig"
  log "stopped; cluster data removed (certificates kept in $pki)"
}

cmd_start() {
  local t0=$SECONDS
  if healthy; then
    log "already running and healthy"
    print_env "$bin"
    return 0
  fi
  if [[ -d "$run" ]]; then
    log "found a stale or unhealthy cluster; restarting from scratch"
    cmd_stop
  fi

  bin="$("$here/build-kube.sh")" || die "build-kube.sh failed"
  mkdir -p "$dir" "$logs" "$run"
  echo "$bin" >"$run/bindir"
  make_pki

  local kwok_dir istio_dir crds
  kwok_dir="$(cd "$here/kwok" && module_dir "sigs.k8s.io/kwok@$(awk '$1=="sigs.k8s.io/kwok"{print $2; exit}' go.mod)")"
  [[ -d "$kwok_dir/kustomize/stage/fast" ]] || die "kwok stages not found in the module cache ($kwok_dir)"
  istio_dir="$(module_dir "istio.io/api@$istio_api_version")"
  crds="$istio_dir/kubernetes/customresourcedefinitions.gen.yaml"
  [[ -f "$crds" ]] || die "Istio CRDs not found: $crds"

  # Ports: fixed preferences, moved up when busy. The ports lock is held from each pick
  # until the component listens, so a start of another cluster at the same moment cannot
  # pick the same port; it is let go while the apiserver gets ready (the slow part).
  local etcd_port etcd_peer_port api_port kcm_port sched_port
  lock_ports
  pick_port etcd_port "${OAM_ETCD_PORT:-23790}"
  pick_port etcd_peer_port $((etcd_port + 1))
  pick_port api_port "${OAM_APISERVER_PORT:-26443}"
  write_kubeconfig

  log "starting etcd on 127.0.0.1:$etcd_port"
  rm -rf "$dir/etcd"
  spawn etcd --name=oam --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="oam=http://127.0.0.1:$etcd_peer_port" --initial-cluster-state=new \
    --unsafe-no-fsync --log-level=warn
  wait_for "etcd" 30 listens etcd "$etcd_port"
  wait_for "etcd peer port" 30 listens etcd "$etcd_peer_port"

  log "starting kube-apiserver on https://127.0.0.1:$api_port"
  spawn kube-apiserver \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/token.csv" \
    --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$service_cidr" \
    --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false \
    --cert-dir="$run/apiserver-certs"
  wait_for "kube-apiserver to listen" 30 listens kube-apiserver "$api_port"
  unlock_ports
  wait_for "kube-apiserver /readyz" 60 api_ready

  lock_ports
  pick_port kcm_port 20257
  pick_port sched_port 20259
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nKCM_PORT=%s\nSCHEDULER_PORT=%s\n' \
    "$etcd_port" "$etcd_peer_port" "$api_port" "$kcm_port" "$sched_port" >"$run/ports"
  log "starting kube-controller-manager, kube-scheduler, kwok"
  spawn kube-controller-manager --kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$run/kcm-certs" \
    --flex-volume-plugin-dir="$run/flexvolume" \
    --leader-elect=false \
    --controllers='*' \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=false \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --allocate-node-cidrs=true --cluster-cidr="$cluster_cidr" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$service_cidr" \
    --node-monitor-grace-period=40s
  spawn kube-scheduler --kubeconfig="$kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false
  wait_for "kube-controller-manager to listen" 30 listens kube-controller-manager "$kcm_port"
  wait_for "kube-scheduler to listen" 30 listens kube-scheduler "$sched_port"
  unlock_ports
  spawn kwok --kubeconfig="$kubeconfig" --config="$kwok_dir/kustomize/stage/fast" \
    --manage-all-nodes=true --cidr="10.244.0.0/24" --node-ip=127.0.0.1 \
    --node-lease-duration-seconds=40

  log "creating Node $node_name and Istio CRDs (istio.io/api $istio_api_version)"
  node_manifest | kc apply -f - >&2
  kc apply --server-side --force-conflicts -f "$crds" >/dev/null
  wait_for "Istio CRDs Established" 60 kc wait --for=condition=Established -f "$crds" --timeout=5s
  wait_for "networking.istio.io/v1 serving gateways, virtualservices, destinationrules" 30 istio_served

  wait_for "Node $node_name Ready" 60 kc wait --for=condition=Ready "node/$node_name" --timeout=5s
  log "creating the ingress gateway workload (istio=ingressgateway in istio-system)"
  ingress_gateway_manifest | kc apply -f - >&2
  wait_for "default ServiceAccount" 30 kc -n default get serviceaccount default
  log "ready in $((SECONDS - t0))s: kube-apiserver https://127.0.0.1:$api_port, etcd 127.0.0.1:$etcd_port, logs in $logs"
  print_env "$bin"
}

cmd_env() {
  [[ -f "$run/bindir" ]] || log "note: cluster not started (run: tools/cluster.sh start)"
  print_env "$(bindir)"
}

cmd_status() {
  if healthy; then
    log "healthy: $(grep APISERVER_PORT "$run/ports")"
    return 0
  fi
  local c
  for c in "${components[@]}"; do
    if pid_alive "$c"; then log "$c: running"; else log "$c: not running"; fi
  done
  log "not healthy"
  return 1
}

# --- kubeconfig-for: a deployer that may do what a stack needs in its namespaces, no more ------

deployer="oam-deployer"   # the ServiceAccount, its namespace, and the name of every Role and binding

# The rules of the Role in each namespace a stack deploys to, as measured with the API server's
# audit log (docs/least-privilege.md gives each rule's reason and the kinds that need it).
deployer_role_rules() {
  cat <<'EOF'
rules:
  # The program reads whether the namespace exists, and its labels.
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [get]
  # The kinds the tutorial and the shop make.
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [""]
    resources: [services]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [networking.istio.io]
    resources: [gateways, virtualservices, destinationrules]
    verbs: [get, list, watch, create, patch, delete]
  # The other kinds the definitions make (drop the ones a stack does not).
  - apiGroups: [""]
    resources: [configmaps, secrets, persistentvolumeclaims, serviceaccounts]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [apps]
    resources: [statefulsets, daemonsets]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [batch]
    resources: [jobs, cronjobs]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [get, list, watch, create, patch, delete]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses]
    verbs: [get, list, watch, create, patch, delete]
  # What the waits read: a route's endpoints; the pods of a Job, a DaemonSet, a Deployment
  # without replicas (and pulumi refresh of a Deployment); the provider's event messages.
  - apiGroups: [""]
    resources: [pods]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list]
  - apiGroups: [apps]
    resources: [replicasets]
    verbs: [list, watch]
  - apiGroups: [""]
    resources: [events]
    verbs: [list, watch]
EOF
}

# The cluster-scoped rules: discovery and version (the provider, the program's probe) and the
# reviews of the program's pre-flight check. Kubernetes' default roles grant them to every
# authenticated user already; they are here for a cluster whose defaults were narrowed.
deployer_cluster_rules() {
  cat <<'EOF'
rules:
  - nonResourceURLs: [/api, /apis, /openapi/v2, /version]
    verbs: [get]
  - apiGroups: [authorization.k8s.io]
    resources: [selfsubjectrulesreviews, selfsubjectaccessreviews]
    verbs: [create]
EOF
}

deployer_manifests() { # namespaces... -> every object kubeconfig-for applies
  local ns
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: $deployer, namespace: $deployer}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: $deployer}
$(deployer_cluster_rules)
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $deployer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $deployer}
subjects: [{kind: ServiceAccount, name: $deployer, namespace: $deployer}]
EOF
  for ns in "$@"; do
    cat <<EOF
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: $deployer, namespace: $ns}
$(deployer_role_rules)
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: $deployer, namespace: $ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: $deployer}
subjects: [{kind: ServiceAccount, name: $deployer, namespace: $deployer}]
EOF
  done
}

cmd_kubeconfig_for() {
  (($# > 0)) || die "usage: $0 kubeconfig-for NAMESPACE... (the namespaces the stack deploys to)"
  local ns token server ca
  for ns in "$@"; do
    [[ "$ns" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "'$ns' is not a namespace name (a DNS label)"
  done
  healthy || die "the cluster of $dir is not running or not healthy (tools/cluster.sh start)"
  for ns in "$deployer" "$@"; do
    kc get namespace "$ns" >/dev/null 2>&1 && continue
    log "creating namespace $ns"
    kc create namespace "$ns" >&2
    # Labelled as a stack labels a namespace it creates itself: its pods get Istio's sidecar.
    [[ "$ns" == "$deployer" ]] || kc label namespace "$ns" istio-injection=enabled >&2
  done
  deployer_manifests "$@" | kc apply -f - >&2
  token="$(kc create token "$deployer" -n "$deployer" --duration="${OAM_TOKEN_DURATION:-24h}")" ||
    die "kubectl create token failed"
  server="$(kc config view -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(base64 -w0 <"$pki/ca.crt")"
  log "a kubeconfig of system:serviceaccount:$deployer:$deployer, for namespaces: $*"
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: oam-local
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $deployer
  user:
    token: $token
contexts:
- name: $deployer
  context:
    cluster: oam-local
    user: $deployer
    namespace: $1
current-context: $deployer
EOF
}

case "${1:-}" in
  start) mkdir -p "$dir"; lock_cluster; cmd_start ;;
  stop) if [[ -d "$dir" ]]; then lock_cluster; fi; cmd_stop ;;
  env) cmd_env ;;
  status) cmd_status ;;
  kubeconfig-for) shift; cmd_kubeconfig_for "$@" ;;
  *) echo "usage: $0 start|stop|env|status|kubeconfig-for NAMESPACE..." >&2; exit 2 ;;
esac
