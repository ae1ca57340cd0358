#!/usr/bin/env bash
# Create the kind cluster from hack/kind/cluster.yaml (unless it exists), wait for its nodes and
# advertise the fake GPU on the GPU node.
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:?KIND_NODE_IMAGE must be set (mk/kind.mk pins it)}

need docker; need kind; need kubectl
"$DOCKER" info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"

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
