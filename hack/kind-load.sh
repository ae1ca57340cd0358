#!/usr/bin/env bash
# Copy the locally built image into every node of the kind cluster (no registry involved).
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"
IMAGE_REF=${IMAGE_REF:?IMAGE_REF must be set (IMAGE:TAG)}

need docker; need kind
"$DOCKER" image inspect "$IMAGE_REF" >/dev/null 2>&1 || die "image $IMAGE_REF is not built: run \`make image\`"
"$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER" || die "kind cluster $CLUSTER does not exist: run \`make kind-up\`"
"$KIND" load docker-image "$IMAGE_REF" --name "$CLUSTER"
