#!/usr/bin/env bash
# Advertise a fake `nvidia.com/gpu` extended resource on every node labelled
# nvidia.com/gpu.present=true (the kind GPU node), the way Kubernetes documents advertising extended
# resources: a JSON patch of the node's status capacity. The kubelet then reports it as allocatable.
# Idempotent; run again (`make kind-gpu`) if a node restart dropped it.
#   GPU_COUNT   GPUs per node (default 4: room for a rolling update of the ml_training Deployment)
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
GPU_COUNT=${GPU_COUNT:-4}
SELECTOR=${GPU_NODE_SELECTOR:-nvidia.com/gpu.present=true}

nodes=$("$KUBECTL" get nodes -l "$SELECTOR" -o jsonpath='{.items[*].metadata.name}')
if [[ -z "$nodes" ]]; then
  echo "fake-gpu: no node matches $SELECTOR (is this the cluster from hack/kind/cluster.yaml?)" >&2
  exit 1
fi
for node in $nodes; do
  "$KUBECTL" patch node "$node" --subresource=status --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$GPU_COUNT\"}]" >/dev/null
  for _ in $(seq 60); do
    got=$("$KUBECTL" get node "$node" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')
    [[ "$got" == "$GPU_COUNT" ]] && break
    sleep 1
  done
  [[ "$got" == "$GPU_COUNT" ]] || { echo "fake-gpu: $node does not report nvidia.com/gpu allocatable" >&2; exit 1; }
  echo "fake-gpu: $node advertises nvidia.com/gpu=$GPU_COUNT (label $SELECTOR, taint nvidia.com/gpu=present:NoSchedule)"
done
