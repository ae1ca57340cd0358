#!/usr/bin/env bash
# Download the pinned kind, kubectl and helm into TOOLS_DIR (default .venv/tools/bin), with their
# published SHA-256 sums checked. mk/kind.mk puts TOOLS_DIR first on PATH for the kind targets.
# Works on Linux and macOS (amd64, arm64): sha256sum where it exists (GNU coreutils), else
# `shasum -a 256` (macOS), else openssl.
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"

TOOLS_DIR=${TOOLS_DIR:?TOOLS_DIR must be set}
mkdir -p "$TOOLS_DIR"
os=$(uname -s | tr '[:upper:]' '[:lower:]')
arch=$(uname -m); case $arch in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; esac
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

fetch() { curl -fsSL --retry 3 -o "$2" "$1" || die "download failed: $1"; }
sha256_of() { # sha256_of FILE: the hex digest, with whichever tool this system has
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | awk '{print $1}'
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | awk '{print $1}'
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | awk '{print $1}'
  else die "no sha256sum, shasum or openssl to check downloads with"
  fi
}
check() { # check FILE SHA256
  local got; got=$(sha256_of "$1")
  [[ "$got" == "$2" ]] || die "checksum mismatch for $(basename "$1"): expected $2, got $got"
}

if [[ "$("$TOOLS_DIR/kind" version 2>/dev/null | awk '{print $2}')" != "$KIND_VERSION" ]]; then
  url="https://github.com/kubernetes-sigs/kind/releases/download/$KIND_VERSION/kind-$os-$arch"
  fetch "$url" "$tmp/kind"; fetch "$url.sha256sum" "$tmp/kind.sha256"
  check "$tmp/kind" "$(awk '{print $1}' "$tmp/kind.sha256")"
  install -m 0755 "$tmp/kind" "$TOOLS_DIR/kind"; log "kind $KIND_VERSION"
fi
if ! "$TOOLS_DIR/kubectl" version --client 2>/dev/null | grep -q "$KUBECTL_VERSION\$"; then
  url="https://dl.k8s.io/release/$KUBECTL_VERSION/bin/$os/$arch/kubectl"
  fetch "$url" "$tmp/kubectl"; fetch "$url.sha256" "$tmp/kubectl.sha256"
  check "$tmp/kubectl" "$(cat "$tmp/kubectl.sha256")"
  install -m 0755 "$tmp/kubectl" "$TOOLS_DIR/kubectl"; log "kubectl $KUBECTL_VERSION"
fi
if [[ "$("$TOOLS_DIR/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]]; then
  url="https://get.helm.sh/helm-$HELM_VERSION-$os-$arch.tar.gz"
  fetch "$url" "$tmp/helm.tgz"; fetch "$url.sha256sum" "$tmp/helm.sha256"
  check "$tmp/helm.tgz" "$(awk '{print $1}' "$tmp/helm.sha256")"
  tar -C "$tmp" -xzf "$tmp/helm.tgz"
  install -m 0755 "$tmp/$os-$arch/helm" "$TOOLS_DIR/helm"; log "helm $HELM_VERSION"
fi
log "tools in $TOOLS_DIR: kind $KIND_VERSION, kubectl $KUBECTL_VERSION, helm $HELM_VERSION"
