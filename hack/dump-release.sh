#!/usr/bin/env bash
# Print what an operator looks at when a rollout fails: the release's objects, its pods described,
# recent events and the last log lines of every container (and of its previous run, if it restarted).
set -uo pipefail
source "$(dirname "$0")/kind/lib.sh"
TAIL=${TAIL:-60}
sel="app.kubernetes.io/instance=$RELEASE"
ns=(--namespace "$NAMESPACE")

section() { printf '\n===== %s =====\n' "$*"; }
section "helm status $RELEASE"; "$HELM" status "$RELEASE" "${ns[@]}" 2>&1 | head -n 30
section "objects ($sel)"; "$KUBECTL" get deploy,sts,job,pod,svc,pvc,hpa -o wide -l "$sel" "${ns[@]}" 2>&1
"$KUBECTL" get scaledobjects.keda.sh -l "$sel" "${ns[@]}" 2>/dev/null
section "pods described"; "$KUBECTL" describe pods -l "$sel" "${ns[@]}" 2>&1
section "events (latest 60)"
"$KUBECTL" get events "${ns[@]}" --sort-by=.lastTimestamp 2>&1 | tail -n 60
for pod in $("$KUBECTL" get pods -l "$sel" "${ns[@]}" -o jsonpath='{.items[*].metadata.name}' 2>/dev/null); do
  for c in $("$KUBECTL" get pod "$pod" "${ns[@]}" -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}'); do
    section "logs $pod/$c (last $TAIL lines)"
    "$KUBECTL" logs "$pod" -c "$c" --tail="$TAIL" "${ns[@]}" 2>&1
    restarts=$("$KUBECTL" get pod "$pod" "${ns[@]}" -o jsonpath="{.status.containerStatuses[?(@.name=='$c')].restartCount}")
    if [[ "${restarts:-0}" != 0 ]]; then
      section "logs $pod/$c, previous run ($restarts restarts)"
      "$KUBECTL" logs "$pod" -c "$c" --previous --tail="$TAIL" "${ns[@]}" 2>&1
    fi
  done
done
exit 0
