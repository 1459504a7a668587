#!/usr/bin/env bash
# http.sh — requests per second and p99 latency of the HTTPS API with wrk over TLS keep-alive,
# side by side with nginx serving the same kind of answer on the same machine (the reference).
#
# Usage: hack/bench/http.sh [BIN_DIR]   (default: bin). Runs each case RUNS times (default 3)
# for DURATION (default 10s) with 2 threads and 50 connections, prints the median of each, the
# ratio to nginx, and the adapter's RSS at idle. Everything binds to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-bin}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
WORK=$(mktemp -d)
chmod 755 "$WORK" # nginx's workers run unprivileged and must read the reference files
PORT=18643
NGINX_PORT=18644
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing (hack/install-deps.sh installs it)"; exit 1; }
if ! command -v nginx >/dev/null && ! [ -x /usr/sbin/nginx ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "installing nginx for the reference run" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

"$BIN/tempo-adapter" --bind-address 127.0.0.1 --secure-port $PORT --cert-dir "$WORK/certs" \
  --insecure-disable-auth --otlp-bind-address "" >"$WORK/adapter.log" 2>&1 &
adapter=$!
pids+=($adapter)
for _ in $(seq 1 100); do curl -skf "https://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$adapter/status)

# nginx with the adapter's own certificate, TLS 1.2/1.3, keep-alive, 2 workers (one per core).
mkdir -p "$WORK/nginx"
chmod 755 "$WORK/nginx"
printf '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}' >"$WORK/nginx/404.json"
curl -sk "https://127.0.0.1:$PORT/apis/external.metrics.k8s.io/v1beta1" >"$WORK/nginx/resources.json"
chmod 644 "$WORK/nginx/"*

cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/certs/apiserver.crt;
    ssl_certificate_key $WORK/certs/apiserver.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 100000;
    root $WORK/nginx;
    location = /apis/external.metrics.k8s.io/v1beta1 { default_type application/json; try_files /resources.json =500; }
    location / { default_type application/json; return 404 '$(cat "$WORK/nginx/404.json")'; }
  }
}
CONF
"$NGINX" -c "$WORK/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 50); do curl -sk "https://127.0.0.1:$NGINX_PORT/x" >/dev/null 2>&1 && break; sleep 0.1; done
# both servers must give the same status for each path, or the comparison is void
for path in /apis/nothing/here /apis/external.metrics.k8s.io/v1beta1; do
  a=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT$path")
  n=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$NGINX_PORT$path")
  [ "$a" = "$n" ] || { echo "reference mismatch on $path: adapter $a, nginx $n" >&2; exit 1; }
done

# One wrk run: prints "<requests/s> <p99 ms>".
run_wrk() {
  wrk -t2 -c50 -d"$DURATION" --latency "$1" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {printf "%s %s\n", rps, p99}'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

bench_case() { # name path
  local name=$1 path=$2 rps_a=() p99_a=() rps_n=() p99_n=()
  for _ in $(seq 1 "$RUNS"); do
    read -r r p < <(run_wrk "https://127.0.0.1:$PORT$path"); rps_a+=("$r"); p99_a+=("$p")
    read -r r p < <(run_wrk "https://127.0.0.1:$NGINX_PORT$path"); rps_n+=("$r"); p99_n+=("$p")
  done
  local ra pa rn pn
  ra=$(printf '%s\n' "${rps_a[@]}" | median); pa=$(printf '%s\n' "${p99_a[@]}" | median)
  rn=$(printf '%s\n' "${rps_n[@]}" | median); pn=$(printf '%s\n' "${p99_n[@]}" | median)
  printf '%-34s adapter %9.0f req/s p99 %7.2f ms | nginx %9.0f req/s p99 %7.2f ms | ratio %.2f\n' \
    "$name" "$ra" "$pa" "$rn" "$pn" "$(awk -v a="$ra" -v b="$rn" 'BEGIN{print a/b}')"
}

echo "wrk -t2 -c50 -d$DURATION over TLS keep-alive, median of $RUNS runs, nginx as reference"
bench_case "404 (unknown path)" "/apis/nothing/here"
bench_case "/apis/external.metrics.k8s.io/v1beta1" "/apis/external.metrics.k8s.io/v1beta1"
echo "adapter RSS at idle: ${rss_idle} KiB"
