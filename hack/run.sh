#!/usr/bin/env bash
# run.sh — `make run`: the adapter on its embedded store, fed by bin/tracegen, and the kubectl
# commands to try with their current output. Ctrl-C stops both.
#
# Local use only: self-signed TLS and --insecure-disable-auth. Ports: PORT (6443) for the API,
# OTLP (127.0.0.1:4318) for traces. Everything else is the built-in default rules.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-6443}
OTLP=${OTLP:-127.0.0.1:4318}
DIR=${TA_DEMO_DIR:-${TMPDIR:-/tmp}/tempo-adapter-demo}
mkdir -p "$DIR"

bin/tempo-adapter --bind-address 127.0.0.1 --secure-port "$PORT" --cert-dir "$DIR/certs" \
  --insecure-disable-auth --otlp-bind-address "$OTLP" >"$DIR/adapter.log" 2>&1 &
adapter=$!
tracegen=""
cleanup() {
  [ -n "$tracegen" ] && kill "$tracegen" 2>/dev/null || true
  kill "$adapter" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

base="https://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -skf "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$adapter" 2>/dev/null || { echo "the adapter stopped:"; cat "$DIR/adapter.log"; exit 1; }
  sleep 0.1
done
echo "tempo-adapter is serving on $base (log: $DIR/adapter.log)"

bin/tracegen --endpoint "http://$OTLP/v1/traces" --rate 20 --duration 0 \
  --latency-ms 120 --error-ratio 0.02 >"$DIR/tracegen.log" 2>&1 &
tracegen=$!
echo "bin/tracegen is sending 20 checkout traces per second (log: $DIR/tracegen.log)"

if command -v kubectl >/dev/null 2>&1; then
  get() { kubectl --server "$base" --insecure-skip-tls-verify --token demo get --raw "$1" 2>&1 </dev/null; }
  show() { echo "kubectl --server $base --insecure-skip-tls-verify --token demo get --raw \"$1\""; }
else
  get() { curl -sk "$base$1"; }
  show() { echo "curl -sk \"$base$1\"   # or: kubectl --server $base --insecure-skip-tls-verify --token demo get --raw \"$1\""; }
fi

ns=/apis/external.metrics.k8s.io/v1beta1/namespaces/shop
sel='?labelSelector=service%3Dcheckout'
echo "waiting for the first values (the default rules need 20 spans in a 2m window)..."
for _ in $(seq 1 120); do
  curl -skf "$base$ns/http_server_request_duration_p95_seconds$sel" >/dev/null 2>&1 && break
  sleep 1
done

echo
echo "== discovery"
show "/apis/external.metrics.k8s.io/v1beta1"
get "/apis/external.metrics.k8s.io/v1beta1"; echo
for m in http_server_request_duration_p95_seconds http_server_io_wait_share \
         http_server_requests_per_second http_server_error_ratio http_server_slow_request_ratio; do
  echo
  echo "== $m"
  show "$ns/$m$sel"
  get "$ns/$m$sel"; echo
done
echo
echo "Values refresh every 15s. Also try: $base/metrics, $base/readyz?verbose"
echo "Press Ctrl-C to stop."
wait "$adapter"
