#!/usr/bin/env bash
# auth.sh — requests per second on the metric path with front-proxy authentication and a warm
# authorization cache, next to the same load with --insecure-disable-auth.
#
# Usage: hack/bench/auth.sh [BIN_DIR]   (default: bin). Environment: DURATION seconds per run
# (default 10), THREADS = kept-alive TLS connections (default 16), RUNS (default 3; the median
# is printed). Needs /usr/bin/python3 (the fake kube-apiserver and the test PKI) and gcc.
#
# wrk cannot present a client certificate, so hack/bench/auth_load.c drives the load: one
# persistent TLS connection per thread with the front-proxy certificate (CN front-proxy-client)
# and the X-Remote-User/X-Remote-Group headers kube-apiserver's aggregator sends. The first
# request of each run makes the SubjectAccessReview; the rest are answered from the 10 s
# authorization cache (at most one review per 10 s is repeated during a run). Everything binds
# to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-bin}
DURATION=${DURATION:-10}
THREADS=${THREADS:-16}
RUNS=${RUNS:-3}
PY=/usr/bin/python3
WORK=$(mktemp -d)
PORT=18743
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

gcc -std=c17 -D_GNU_SOURCE -O2 -pthread -o "$WORK/auth_load" hack/bench/auth_load.c -lssl -lcrypto
# The in-process figure (CPU per auth_check with warm caches) needs only the auth modules.
AUTH_SRC="$(echo apis/base/*.c) apis/query.c server/fileio.c server/secret_file.c server/request.c \
  server/authcache.c server/authcfg.c server/authn.c server/authz.c server/kubeconfig.c \
  server/kube_client.c server/auth.c"
make -s BUILD="$WORK/lib" LIB_SRC="$AUTH_SRC" LDFLAGS=-pthread "$WORK/lib/libta.a" >/dev/null
gcc -std=c17 -D_GNU_SOURCE -O2 -I. -pthread -o "$WORK/auth_check_bench" \
  hack/bench/auth_check_bench.c "$WORK/lib/libta.a" -lcurl -ljansson -lssl -lcrypto -lyaml -lz -lm
$PY tests/fakes/pki.py "$WORK/pki" >/dev/null
P=$WORK/pki

# Fake kube-apiserver: the ConfigMap with the front-proxy CA, a policy that allows the HPA.
$PY - "$P" "$WORK/state.json" <<'PYEOF'
import json, sys
p, out = sys.argv[1], sys.argv[2]
rd = lambda n: open("%s/%s.crt" % (p, n)).read()
json.dump({"auth_tokens": ["bench-token"],
           "policy": [{"allowed": True}],
           "configmap": {"requestheader-client-ca-file": rd("front-proxy-ca"),
                         "client-ca-file": rd("client-ca"),
                         "requestheader-allowed-names": '["front-proxy-client"]',
                         "requestheader-username-headers": '["X-Remote-User"]',
                         "requestheader-group-headers": '["X-Remote-Group"]',
                         "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]'}},
          open(out, "w"))
PYEOF
$PY tests/fakes/fake_kube.py --cert "$P/apiserver.crt" --key "$P/apiserver.key" \
  --client-ca "$P/client-ca.crt" --state "$WORK/state.json" --port-file "$WORK/kube.port" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/kube.port" ] && break; sleep 0.1; done
cat >"$WORK/kubeconfig" <<EOF
{"apiVersion": "v1", "kind": "Config", "current-context": "fake",
 "clusters": [{"name": "fake", "cluster": {"server": "https://127.0.0.1:$(cat "$WORK/kube.port")",
               "certificate-authority": "$P/cluster-ca.crt"}}],
 "users": [{"name": "bench", "user": {"token": "bench-token"}}],
 "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "bench"}}]}
EOF

METRIC_PATH="/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/http_server_requests_per_second?labelSelector=service%3Dcheckout"
HDRS=(-H "X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler"
      -H "X-Remote-Group: system:serviceaccounts"
      -H "X-Remote-Group: system:serviceaccounts:kube-system")

start_adapter() { # extra args...
  "$BIN/tempo-adapter" --bind-address 127.0.0.1 --secure-port $PORT --cert-dir "$WORK/certs" \
    --otlp-bind-address "" "$@" >"$WORK/adapter.log" 2>&1 &
  adapter=$!
  pids+=($adapter)
  for _ in $(seq 1 100); do curl -skf "https://127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.1; done
  echo "adapter did not start:"; cat "$WORK/adapter.log"; exit 1
}
stop_adapter() { kill "$adapter"; wait "$adapter" 2>/dev/null || true; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
measure() { # prints the median requests/s
  "$WORK/auth_load" -p $PORT -u "$METRIC_PATH" -c "$P/front-proxy-client.crt" \
    -k "$P/front-proxy-client.key" -t 2 -d 1 "${HDRS[@]}" >/dev/null # warm: review + value
  for _ in $(seq 1 "$RUNS"); do
    "$WORK/auth_load" -p $PORT -u "$METRIC_PATH" -c "$P/front-proxy-client.crt" \
      -k "$P/front-proxy-client.key" -t "$THREADS" -d "$DURATION" "${HDRS[@]}" | awk '{print $1}'
  done | median
}

start_adapter --kubeconfig "$WORK/kubeconfig"
with_auth=$(measure)
reviews=$(curl -sk "https://127.0.0.1:$(cat "$WORK/kube.port")/_fake/reviews" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
stop_adapter
start_adapter --insecure-disable-auth
without=$(measure)
stop_adapter

echo "in process, warm caches (hack/bench/auth_check_bench.c):"
"$WORK/auth_check_bench" 2>/dev/null | sed 's/^/  /'
echo "metric path, $THREADS kept-alive TLS connections, ${DURATION}s runs, median of $RUNS"
printf '  front-proxy auth + warm SAR cache: %9.0f req/s  (%s SubjectAccessReviews sent)\n' "$with_auth" "$reviews"
printf '  --insecure-disable-auth:           %9.0f req/s\n' "$without"
printf '  ratio: %.2f\n' "$(awk -v a="$with_auth" -v b="$without" 'BEGIN{print a/b}')"
