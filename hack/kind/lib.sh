# shellcheck shell=bash
# Shared helpers of the hack/*.sh kind scripts (sourced, not run).
# The pinned versions come from mk/kind.mk; these defaults only matter when a script runs alone.

KIND=${KIND:-kind}
KUBECTL=${KUBECTL:-kubectl}
HELM=${HELM:-helm}
DOCKER=${DOCKER:-docker}
KIND_VERSION=${KIND_VERSION:-v0.31.0}
KUBECTL_VERSION=${KUBECTL_VERSION:-v1.35.0}
HELM_VERSION=${HELM_VERSION:-v3.20.2}
CLUSTER=${CLUSTER:-atomfleet}
RELEASE=${RELEASE:-atomfleet}
NAMESPACE=${NAMESPACE:-atomfleet}

log() { echo "$(basename "$0" .sh): $*" >&2; }
die() { log "$*"; exit 1; }

# need TOOL: fail with what to install when TOOL is missing; warn when its version is not the pin.
need() {
  local tool=$1 bin have want hint
  case $tool in
    kind)    bin=$KIND;    want=$KIND_VERSION
             hint="kind $KIND_VERSION: \`make kind-tools\` downloads it, or see https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
    kubectl) bin=$KUBECTL; want=$KUBECTL_VERSION
             hint="kubectl $KUBECTL_VERSION: \`make kind-tools\` downloads it, or see https://kubernetes.io/docs/tasks/tools/" ;;
    helm)    bin=$HELM;    want=$HELM_VERSION
             hint="helm $HELM_VERSION: \`make kind-tools\` downloads it, or see https://helm.sh/docs/intro/install/" ;;
    docker)  bin=$DOCKER;  want=""
             hint="a container engine for kind: Docker (https://docs.docker.com/engine/install/) or Debian's docker.io" ;;
    *) die "unknown tool $tool" ;;
  esac
  command -v "$bin" >/dev/null 2>&1 || die "$tool is not installed. Install $hint"
  [[ -z $want ]] && return 0
  case $tool in
    kind)    have=$("$bin" version 2>/dev/null | awk '{print $2}') ;;
    kubectl) have=$("$bin" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | head -n1) ;;
    helm)    have=$("$bin" version --template '{{.Version}}' 2>/dev/null) ;;
  esac
  [[ "$have" == "$want" ]] || log "warning: $tool is ${have:-of unknown version}, this project pins $want (\`make kind-tools\`)"
}

# The cluster answers through the current KUBECONFIG.
need_cluster() {
  "$KUBECTL" version --request-timeout=5s >/dev/null 2>&1 \
    || die "no Kubernetes cluster answers (KUBECONFIG=${KUBECONFIG:-~/.kube/config}); run \`make kind-up\`"
}
