#!/usr/bin/env bash
# Copy the locally built image into every node of the kind cluster (no registry involved).
#
# Not `kind load docker-image`: with Docker's containerd image store (the default of Docker Desktop
# and of new Docker 29 installs) it pipes a plain `docker save` into the nodes'
# `ctr images import --all-platforms`, which fails on the platforms whose layers are not there
# (kubernetes-sigs/kind#3795, open; the maintainers' advice is to save one platform and use
# `kind load image-archive`). So: save the image for the platform it was built for (with
# `--platform` where this Docker has it, 28+), then `kind load image-archive`. Works with the
# classic image store too.
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"
IMAGE_REF=${IMAGE_REF:?IMAGE_REF must be set (IMAGE:TAG)}

need docker; need kind
"$DOCKER" image inspect "$IMAGE_REF" >/dev/null 2>&1 || die "image $IMAGE_REF is not built: run \`make image\`"
"$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER" || die "kind cluster $CLUSTER does not exist: run \`make kind-up\`"

platform=$("$DOCKER" image inspect -f '{{.Os}}/{{.Architecture}}' "$IMAGE_REF")
archive=$(mktemp "${TMPDIR:-/tmp}/atomfleet-image.XXXXXX.tar")
trap 'rm -f "$archive"' EXIT
if "$DOCKER" image save --help 2>/dev/null | grep -q -- '--platform'; then
  "$DOCKER" image save --platform "$platform" -o "$archive" "$IMAGE_REF"
else
  "$DOCKER" image save -o "$archive" "$IMAGE_REF"
fi
"$KIND" load image-archive "$archive" --name "$CLUSTER"
log "loaded $IMAGE_REF ($platform) into cluster $CLUSTER"
