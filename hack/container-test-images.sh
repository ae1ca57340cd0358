#!/usr/bin/env bash
# Images the container smoke test (tests/container) needs besides atomfleet's own, built locally
# because no registry can be pulled from on the test machines; each is built only when its tag
# is missing, so later runs reuse them.
#   base      ATOMFLEET_TEST_BASE_IMAGE, default atomfleet-test-base:bookworm, made with
#             `debootstrap --variant=minbase` (Debian bookworm + python3): the stand-in for
#             python:3.11-slim. Where that can be pulled, ATOMFLEET_TEST_BASE_IMAGE=python:3.11-slim.
#   services  atomfleet-test-services:bookworm: the base + Debian's redis-server and postgresql.
# Prints the two image names (base, services) on stdout; progress goes to stderr.
set -euo pipefail

DOCKER=${DOCKER:-docker}
BASE=${ATOMFLEET_TEST_BASE_IMAGE:-atomfleet-test-base:bookworm}
SERVICES=${ATOMFLEET_TEST_SERVICES_IMAGE:-atomfleet-test-services:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HERE=$(cd "$(dirname "$0")/.." && pwd)
LOCK_DIR=${ATOMFLEET_DOCKERD_DIR:-/tmp/atomfleet-dockerd}

log() { echo "container-test-images: $*" >&2; }
have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

mkdir -p "$LOCK_DIR"
exec 9>"$LOCK_DIR/images.lock"
flock 9   # several worktrees may build at once; the second waits and then finds the tags

if ! have "$BASE"; then
  if [[ "$BASE" != atomfleet-test-base:* ]]; then
    log "pulling $BASE"; "$DOCKER" pull "$BASE" >&2
  else
    command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
    [[ $(id -u) -eq 0 ]] || { log "debootstrap needs root to build $BASE"; exit 1; }
    rootfs=$(mktemp -d /tmp/atomfleet-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    log "building $BASE with debootstrap (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
      || { log "debootstrap failed, see $rootfs.log"; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$DOCKER" import - "$BASE" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
  fi
fi

if ! have "$SERVICES"; then
  log "building $SERVICES (redis-server, postgresql from Debian)"
  "$DOCKER" build --quiet --network host --build-arg "BASE_IMAGE=$BASE" -t "$SERVICES" \
    -f "$HERE/tests/container/services.Dockerfile" "$HERE/tests/container" >/dev/null
fi

echo "$BASE"
echo "$SERVICES"
