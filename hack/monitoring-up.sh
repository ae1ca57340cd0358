#!/usr/bin/env bash
# Install the monitoring and autoscaling stack the chart integrates with, from the upstream Helm
# repositories at pinned chart versions (mk/kind.mk):
#   kube-prometheus-stack  namespace monitoring (Prometheus, Grafana, the operator and its CRDs)
#   KEDA                   namespace keda        (ScaledObjects; owns external.metrics.k8s.io)
#   prometheus-adapter     namespace monitoring
# Only one component can serve the external metrics API. AUTOSCALER=keda (default) installs KEDA and
# prometheus-adapter for the custom metrics API only; AUTOSCALER=hpa installs prometheus-adapter
# with the chart's External metric rules (values/prometheus-adapter.yaml) and removes KEDA.
set -euo pipefail
source "$(dirname "$0")/kind/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KPS_VERSION=${KPS_VERSION:?} KEDA_VERSION=${KEDA_VERSION:?} ADAPTER_VERSION=${ADAPTER_VERSION:?}
AUTOSCALER=${AUTOSCALER:-keda}
MON_NS=${MONITORING_NAMESPACE:-monitoring}
ADAPTER_VALUES=${ADAPTER_VALUES:-$ROOT/values/prometheus-adapter.yaml}
TIMEOUT=${MONITORING_TIMEOUT:-10m}

need helm; need kubectl; need_cluster
case $AUTOSCALER in keda|hpa) ;; *) die "AUTOSCALER must be keda or hpa, not $AUTOSCALER" ;; esac

"$HELM" repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
"$HELM" repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
"$HELM" repo update prometheus-community kedacore >/dev/null

log "kube-prometheus-stack $KPS_VERSION"
"$HELM" upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
  --version "$KPS_VERSION" --namespace "$MON_NS" --create-namespace \
  --values "$ROOT/hack/kind/monitoring/kube-prometheus-stack.yaml" --wait --timeout "$TIMEOUT"

adapter_args=(--set "prometheus.url=http://kube-prometheus-stack-prometheus.$MON_NS.svc" --set prometheus.port=9090)
[[ -f "$ADAPTER_VALUES" ]] && adapter_args=(--values "$ADAPTER_VALUES" "${adapter_args[@]}")

if [[ $AUTOSCALER == keda ]]; then
  log "KEDA $KEDA_VERSION"
  "$HELM" upgrade --install keda kedacore/keda --version "$KEDA_VERSION" \
    --namespace keda --create-namespace --wait --timeout "$TIMEOUT"
  # KEDA owns v1beta1.external.metrics.k8s.io: the adapter serves custom metrics only.
  adapter_args+=(--set-json 'rules.external=[]')
else
  if "$HELM" status keda --namespace keda >/dev/null 2>&1; then
    log "AUTOSCALER=hpa: uninstalling KEDA (it would own the external metrics API)"
    "$HELM" uninstall keda --namespace keda --wait
  fi
fi

log "prometheus-adapter $ADAPTER_VERSION ($AUTOSCALER mode)"
"$HELM" upgrade --install prometheus-adapter prometheus-community/prometheus-adapter \
  --version "$ADAPTER_VERSION" --namespace "$MON_NS" "${adapter_args[@]}" --wait --timeout "$TIMEOUT"

"$KUBECTL" get apiservices | grep -E 'NAME|metrics.k8s.io' || true
log "monitoring is up. Grafana: kubectl -n $MON_NS port-forward svc/kube-prometheus-stack-grafana 3000:80 (admin / atomfleet)"
