#!/usr/bin/env bash
# Create the kind cluster from hack/kind/cluster.yaml (unless it exists), wait for its nodes and
# advertise the fake GPU on the GPU node.
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:?KIND_NODE_IMAGE must be set (mk/kind.mk pins it)}

need docker; need kind; need kubectl
"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"
# kind v0.31's default node image, Kubernetes 1.35, does not run on cgroup v1: Kubernetes 1.35
# removed cgroup v1 support and kind's node images dropped it with it (kind v0.31.0 release notes,
# "Kubernetes 1.35+ Cgroup v1"; kubernetes-sigs/kind#4077). Fail here, not in a kubelet timeout.
cgroup=$("$DOCKER" info --format '{{.CgroupVersion}}' 2>/dev/null || true)
if [[ "$cgroup" == 1 ]]; then
  die "the Docker engine runs with cgroup v1; the pinned node image ($KIND_NODE_IMAGE, Kubernetes 1.35) needs cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1, or a current Docker Desktop)"
fi

if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "cluster $CLUSTER exists; using it"
  "$KIND" export kubeconfig --name "$CLUSTER" >/dev/null
else
  "$KIND" create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" \
    --config "$HERE/kind/cluster.yaml" --wait 180s
fi
"$KUBECTL" wait --for=condition=Ready nodes --all --timeout=180s >/dev/null
KUBECTL=$KUBECTL "$HERE/kind/fake-gpu.sh"
"$KUBECTL" get nodes -L nvidia.com/gpu.present -o wide
log "cluster $CLUSTER is up (context kind-$CLUSTER). Next: make image kind-load monitoring-up deploy e2e"
