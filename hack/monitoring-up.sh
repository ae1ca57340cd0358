#!/usr/bin/env bash
# Install the monitoring and autoscaling stack the chart integrates with, from the upstream Helm
# repositories at pinned chart versions (mk/kind.mk):
#   kube-prometheus-stack  namespace monitoring (Prometheus, Grafana, the operator and its CRDs)
#   AUTOSCALER=keda (default): KEDA, namespace keda (ScaledObjects; it serves external.metrics.k8s.io)
#   AUTOSCALER=hpa:            prometheus-adapter, namespace monitoring, with the chart's External
#                              metric rules (values/prometheus-adapter.yaml) for plain HPAs
# One APIService can serve v1beta1.external.metrics.k8s.io, so each mode removes the other's
# release first. prometheus-adapter is not installed in keda mode: with no rules its chart renders
# no APIService at all (its custom-metrics-apiservice.yaml needs rules.default or rules.custom, its
# external-metrics-apiservice.yaml rules.external), so it would serve nothing.
# Removing KEDA (`helm uninstall keda`) deletes its CRDs (the chart ships them as templates) and with
# them every ScaledObject: deploy with AUTOSCALER=hpa afterwards (values/kind-hpa.yaml).
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

if [[ $AUTOSCALER == keda ]]; then
  if "$HELM" status prometheus-adapter --namespace "$MON_NS" >/dev/null 2>&1; then
    log "AUTOSCALER=keda: uninstalling prometheus-adapter (KEDA serves the external metrics API)"
    "$HELM" uninstall prometheus-adapter --namespace "$MON_NS" --wait
  fi
  log "KEDA $KEDA_VERSION"
  "$HELM" upgrade --install keda kedacore/keda --version "$KEDA_VERSION" \
    --namespace keda --create-namespace --wait --timeout "$TIMEOUT"
else
  if "$HELM" status keda --namespace keda >/dev/null 2>&1; then
    log "AUTOSCALER=hpa: uninstalling KEDA and its CRDs (it serves the external metrics API); ScaledObjects go with them"
    "$HELM" uninstall keda --namespace keda --wait
  fi
  [[ -f "$ADAPTER_VALUES" ]] || die "$ADAPTER_VALUES is missing (the External metric rules of hpa mode)"
  log "prometheus-adapter $ADAPTER_VERSION (External metric atomfleet_queue_demand)"
  "$HELM" upgrade --install prometheus-adapter prometheus-community/prometheus-adapter \
    --version "$ADAPTER_VERSION" --namespace "$MON_NS" --values "$ADAPTER_VALUES" \
    --set "prometheus.url=http://kube-prometheus-stack-prometheus.$MON_NS.svc" --set prometheus.port=9090 \
    --wait --timeout "$TIMEOUT"
fi

"$KUBECTL" get apiservices | grep -E 'NAME|metrics.k8s.io' || true
log "monitoring is up ($AUTOSCALER). Deploy with the same mode: make deploy AUTOSCALER=$AUTOSCALER"
log "Grafana: kubectl -n $MON_NS port-forward svc/kube-prometheus-stack-grafana 3000:80 (admin / atomfleet)"
