#!/usr/bin/env bash
# bootkube.sh for cluster {{ cluster.name }}, rendered by Provisioner for {{ machine.name }}.
#
# Brings the cluster up from the bootstrap machine:
#   copy-static-pods     start the temporary control plane (static pods from bootstrap-manifests/)
#   wait-etcd            wait until etcd answers /health with the API server's client certificate
#   wait-api             wait until the API server answers /readyz
#   apply-manifests      apply manifests/: namespaces first, then CRDs, then the rest
#   wait-control-plane   wait until every control-plane machine runs its own control-plane pods
#   label-control-plane  give those nodes the control-plane role label (a kubelet may not set it itself)
#   teardown             move the temporary control plane's static pods away
# Each stage leaves <stage>.done in the state directory, so a restarted run resumes after the last finished
# stage. Each stage is reported to Provisioner (POST /api/v1/progress), authenticated with the machine's report
# key (/etc/provisioner/report-key, delivered with its config over TLS).
#
# Fedora CoreOS has no kubectl: it runs from the release's kubectl image under podman (as OpenShift's bootkube
# does), host network, with the kubeconfig's directory and the assets mounted read-only.
#
# BOOTKUBE_DRY_RUN=1 records every command that would change the machine or talk to the cluster in
# $BOOTKUBE_STATE_DIR/dry-run.log instead of running it; BOOTKUBE_DRY_RUN_FAIL_AT=<stage> (dry run only)
# stops the run just before that stage, as a crash would. BOOTKUBE_DRY_RUN_KUBECTL=1 (dry run only) records the
# kubectl commands and runs them too, under podman, with BOOTKUBE_KUBECTL_IMAGE (default: the release's).
set -euo pipefail

readonly MACHINE="{{ machine.name }}"
readonly DEFAULT_PROGRESS_URL="{{ provisioner.progress_url }}"
readonly PROGRESS_URL="${BOOTKUBE_PROGRESS_URL:-$DEFAULT_PROGRESS_URL}"
readonly REPORT_KEY_FILE="${BOOTKUBE_REPORT_KEY_FILE:-/etc/provisioner/report-key}"
readonly ASSET_DIR="${BOOTKUBE_ASSET_DIR:-/opt/provisioner}"
readonly STATE_DIR="${BOOTKUBE_STATE_DIR:-/var/lib/bootkube}"
readonly STATIC_POD_DIR="${BOOTKUBE_STATIC_POD_DIR:-/etc/kubernetes/manifests}"
readonly PKI_DIR="${BOOTKUBE_PKI_DIR:-/etc/kubernetes/pki}"
readonly KUBECONFIG_FILE="${BOOTKUBE_KUBECONFIG:-/etc/kubernetes/admin.kubeconfig}"
readonly DRY_RUN="${BOOTKUBE_DRY_RUN:-0}"
readonly FAIL_AT="${BOOTKUBE_DRY_RUN_FAIL_AT:-}"
readonly DRY_RUN_KUBECTL="${BOOTKUBE_DRY_RUN_KUBECTL:-0}"
readonly DEFAULT_KUBECTL_IMAGE="{{ cluster.images.kubectl }}"
readonly KUBECTL_IMAGE="${BOOTKUBE_KUBECTL_IMAGE:-$DEFAULT_KUBECTL_IMAGE}"
readonly RETRIES="${BOOTKUBE_RETRIES:-180}"
readonly RETRY_DELAY="${BOOTKUBE_RETRY_DELAY:-5}"
# The temporary API server on this machine; the admin kubeconfig names the cluster endpoint, which may not
# route here yet.
readonly API_SERVER="https://127.0.0.1:6443"
readonly SINGLE_MACHINE="{{ cluster.single_machine }}"
readonly ETCD_SERVERS="{{ cluster.etcd_servers }}"
readonly CONTROL_PLANE_MACHINES=({% for m in cluster.control_plane_machines %}"{{ m }}"{% unless forloop.last %} {% endunless %}{% endfor %})

log() {
  printf '%s bootkube: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# Every command that changes the machine or talks to the cluster goes through run, so a dry run records
# it instead.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '%s\n' "$*" >>"$STATE_DIR/dry-run.log"
    log "dry-run: $*"
    return 0
  fi
  "$@"
}

# kubectl ARGS...: kubectl from the release image, with what it reads (the kubeconfig's directory with the
# certificates, the manifests) mounted read-only at the same paths.
kubectl() {
  local kubeconfig_dir
  kubeconfig_dir=$(dirname "$KUBECONFIG_FILE")
  podman run --rm --net=host --entrypoint= \
    --volume "$kubeconfig_dir:$kubeconfig_dir:ro" \
    --volume "$ASSET_DIR:$ASSET_DIR:ro" \
    "$KUBECTL_IMAGE" kubectl "$@"
}

kube() {
  if [[ "$DRY_RUN" == 1 && "$DRY_RUN_KUBECTL" == 1 ]]; then
    printf '%s\n' "kubectl --kubeconfig $KUBECONFIG_FILE --server $API_SERVER $*" >>"$STATE_DIR/dry-run.log"
    kubectl --kubeconfig "$KUBECONFIG_FILE" --server "$API_SERVER" "$@"
    return
  fi
  run kubectl --kubeconfig "$KUBECONFIG_FILE" --server "$API_SERVER" "$@"
}

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/ }
  printf '"%s"' "$s"
}

# report STAGE DETAIL: progress is best effort; bootstrapping does not stop when Provisioner is unreachable.
report() {
  local body
  body="{\"machine\":$(json_string "$MACHINE"),\"stage\":$(json_string "$1"),\"detail\":$(json_string "$2")}"
  if [[ ! -r "$REPORT_KEY_FILE" ]]; then
    log "could not report $1: no report key in $REPORT_KEY_FILE"
    return 0
  fi
  # The key goes to curl as a header file (printf is a builtin), never on a command line other users can read.
  if ! curl -fsS -m 10 -X POST -H 'Content-Type: application/json' \
    -H @<(printf 'Authorization: Bearer %s\n' "$(<"$REPORT_KEY_FILE")") \
    --data "$body" "$PROGRESS_URL" >/dev/null; then
    log "could not report $1 to $PROGRESS_URL"
  fi
}

# retry DESCRIPTION COMMAND...: bounded, every attempt logged.
retry() {
  local what=$1 attempt
  shift
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    if "$@"; then
      log "$what: ok (attempt $attempt)"
      return 0
    fi
    log "$what: not yet (attempt $attempt/$RETRIES); retrying in ${RETRY_DELAY}s"
    sleep "$RETRY_DELAY"
  done
  log "$what: giving up after $RETRIES attempts"
  return 1
}

# stage NAME FUNCTION: runs FUNCTION unless NAME is already done.
stage() {
  local name=$1 fn=$2
  if [[ -f "$STATE_DIR/$name.done" ]]; then
    log "stage $name: already done"
    return 0
  fi
  if [[ "$DRY_RUN" == 1 && "$FAIL_AT" == "$name" ]]; then
    log "stage $name: stopping here (BOOTKUBE_DRY_RUN_FAIL_AT)"
    exit 75
  fi
  log "stage $name: starting"
  report "bootkube.$name" "started"
  if ! "$fn"; then
    report "bootkube.$name" "failed"
    log "stage $name: failed"
    return 1
  fi
  printf '%s\n' "$name" >>"$STATE_DIR/stages.log"
  touch "$STATE_DIR/$name.done"
  report "bootkube.$name" "done"
}

copy_static_pods() {
  local f
  run mkdir -p "$STATIC_POD_DIR"
  for f in "$ASSET_DIR"/bootstrap-manifests/*.yaml; do
    run cp "$f" "$STATIC_POD_DIR/"
  done
}

# etcd's /health is true only with a quorum, so one healthy member is enough.
etcd_healthy() {
  local endpoint endpoints
  IFS=, read -r -a endpoints <<<"$ETCD_SERVERS"
  for endpoint in "${endpoints[@]}"; do
    if run curl -fsS -m 5 --cacert "$PKI_DIR/etcd/ca.crt" --cert "$PKI_DIR/apiserver-etcd-client.crt" \
      --key "$PKI_DIR/apiserver-etcd-client.key" "$endpoint/health" >/dev/null; then
      return 0
    fi
  done
  return 1
}

wait_etcd() {
  retry "etcd health ($ETCD_SERVERS)" etcd_healthy
}

api_ready() {
  kube get --raw=/readyz >/dev/null
}

wait_api() {
  retry "API server /readyz" api_ready
}

apply_file() {
  kube apply -f "$1"
}

apply_manifests() {
  local f
  local -a namespaces=() crds=() others=()
  for f in "$ASSET_DIR"/manifests/*.yaml; do
    if grep -q '^kind: Namespace$' "$f"; then
      namespaces+=("$f")
    elif grep -q '^kind: CustomResourceDefinition$' "$f"; then
      crds+=("$f")
    else
      others+=("$f")
    fi
  done
  for f in "${namespaces[@]}" "${crds[@]}"; do
    retry "apply $(basename "$f")" apply_file "$f"
  done
  if ((${#crds[@]} > 0)); then
    retry "CRDs established" kube wait --for=condition=Established crd --all --timeout=30s
  fi
  for f in "${others[@]}"; do
    retry "apply $(basename "$f")" apply_file "$f"
  done
}

control_plane_ready() {
  local node component
  for node in "${CONTROL_PLANE_MACHINES[@]}"; do
    for component in etcd kube-apiserver kube-controller-manager kube-scheduler; do
      kube -n kube-system wait --for=condition=Ready "pod/$component-$node" --timeout=5s >/dev/null || return 1
    done
  done
}

wait_control_plane() {
  if [[ "$SINGLE_MACHINE" == true ]]; then
    log "single-machine cluster: this machine is the control plane"
    return 0
  fi
  retry "control-plane pods on ${CONTROL_PLANE_MACHINES[*]}" control_plane_ready
}

label_control_plane() {
  local node
  local -a nodes=("${CONTROL_PLANE_MACHINES[@]}")
  if [[ "$SINGLE_MACHINE" == true ]]; then
    nodes=("$MACHINE")
  fi
  for node in "${nodes[@]}"; do
    retry "label node $node" kube label node "$node" node-role.kubernetes.io/control-plane= --overwrite
  done
}

teardown() {
  local f
  if [[ "$SINGLE_MACHINE" == true ]]; then
    log "single-machine cluster: keeping the control plane"
    return 0
  fi
  run mkdir -p "$STATE_DIR/retired"
  for f in "$ASSET_DIR"/bootstrap-manifests/*.yaml; do
    run mv "$STATIC_POD_DIR/$(basename "$f")" "$STATE_DIR/retired/"
  done
}

complete() {
  log "cluster {{ cluster.name }} is up"
}

main() {
  mkdir -p "$STATE_DIR"
  stage copy-static-pods copy_static_pods
  stage wait-etcd wait_etcd
  stage wait-api wait_api
  stage apply-manifests apply_manifests
  stage wait-control-plane wait_control_plane
  stage label-control-plane label_control_plane
  stage teardown teardown
  stage complete complete
}

main "$@"
