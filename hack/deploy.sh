#!/usr/bin/env bash
# helm upgrade --install the chart with values/kind.yaml and the image loaded by `make kind-load`;
# --wait for every object to be ready. On failure, dump the release (hack/dump-release.sh).
#   AUTOSCALER  keda (default): values/kind.yaml; hpa: plus values/kind-hpa.yaml (io_bound scaled by
#               an HPA on prometheus-adapter's External metric: there is no KEDA, hence no ScaledObject)
#   HELM_ARGS   extra arguments, e.g. HELM_ARGS="--set workers.queues.default.concurrency=2"
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VALUES=${VALUES:-$ROOT/values/kind.yaml}
AUTOSCALER=${AUTOSCALER:-keda}
IMAGE=${IMAGE:-atomfleet}; TAG=${TAG:-0.1.0}
TIMEOUT=${DEPLOY_TIMEOUT:-10m}

need helm; need kubectl; need_cluster
[[ -f "$VALUES" ]] || die "values file $VALUES is missing"
[[ -f "$ROOT/charts/atomfleet/Chart.yaml" ]] || die "chart charts/atomfleet is missing"
values=(--values "$VALUES")
case $AUTOSCALER in
  keda) "$KUBECTL" get crd scaledobjects.keda.sh >/dev/null 2>&1 \
          || die "AUTOSCALER=keda but KEDA's CRDs are not installed: run \`make monitoring-up\` (or AUTOSCALER=hpa)" ;;
  hpa) values+=(--values "$ROOT/values/kind-hpa.yaml") ;;
  *) die "AUTOSCALER must be keda or hpa, not $AUTOSCALER" ;;
esac

# shellcheck disable=SC2086
if ! "$HELM" upgrade --install "$RELEASE" "$ROOT/charts/atomfleet" \
      --namespace "$NAMESPACE" --create-namespace \
      "${values[@]}" \
      --set image.repository="$IMAGE" --set image.tag="$TAG" \
      --wait --timeout "$TIMEOUT" ${HELM_ARGS:-}; then
  log "helm upgrade --install $RELEASE failed; the release's state follows"
  "$(dirname "$0")/dump-release.sh"
  exit 1
fi
"$KUBECTL" get deploy,sts,pod -l "app.kubernetes.io/instance=$RELEASE" --namespace "$NAMESPACE" -o wide
log "release $RELEASE deployed in namespace $NAMESPACE ($AUTOSCALER). Next: helm test $RELEASE -n $NAMESPACE, or make e2e"
