#!/usr/bin/env bash
# Make a Docker engine answer for the container smoke test (tests/container), where that is
# possible: on a Debian machine where we are root, install `docker.io` (+ `debootstrap`, which
# builds the test base image offline from Debian packages) and start `dockerd` in the background.
# Never fails: where no engine can be had it says why, and the smoke test skips with that reason.
# ATOMFLEET_NO_DOCKER=1 skips all of it.
set -euo pipefail

DOCKER=${DOCKER:-docker}
STATE_DIR=${ATOMFLEET_DOCKERD_DIR:-/tmp/atomfleet-dockerd}

say() { echo "docker: $*"; }
engine_ok() { command -v "$DOCKER" >/dev/null 2>&1 && "$DOCKER" info >/dev/null 2>&1; }

if [[ "${ATOMFLEET_NO_DOCKER:-}" == 1 ]]; then
  say "ATOMFLEET_NO_DOCKER=1, not starting an engine (container smoke test will skip)"; exit 0
fi
if engine_ok; then
  say "engine answering"; exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  say "no engine answers and not root to start one (container smoke test will skip)"; exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "no engine and no apt-get to install docker.io (container smoke test will skip)"; exit 0
  fi
  say "installing docker.io and debootstrap (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt_get() { apt-get -o DPkg::Lock::Timeout=300 -qq "$@" >/dev/null; }
  if ! { apt_get install -y docker.io debootstrap 2>/dev/null \
         || { apt_get update && apt_get install -y docker.io debootstrap; }; }; then
    say "could not install docker.io (container smoke test will skip)"; exit 0
  fi
fi
# The Debian docker.io client, where the PATH's docker is another (e.g. a newer standalone CLI).
command -v "$DOCKER" >/dev/null 2>&1 || DOCKER=/usr/bin/docker

mkdir -p "$STATE_DIR"
(
  # One starter at a time: several worktrees may run `make test` at once.
  flock 9
  if ! engine_ok; then
    say "starting dockerd (log: $STATE_DIR/dockerd.log)"
    nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/dockerd.pid"
    for _ in $(seq 60); do engine_ok && break; sleep 0.5; done
  fi
) 9>"$STATE_DIR/lock"

if engine_ok; then
  say "engine answering"
else
  say "dockerd did not come up, see $STATE_DIR/dockerd.log (container smoke test will skip)"
fi
exit 0
