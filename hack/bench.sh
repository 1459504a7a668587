#!/usr/bin/env bash
# bench.sh — `make bench`: every benchmark of the project, one after the other (each prints
# medians and its reference run side by side). Run on an otherwise idle machine; nothing here
# is a test (no pass/fail on timing). Usage: hack/bench.sh [BIN_DIR]   (default: bin)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-bin}

echo "### HTTPS API (wrk, TLS keep-alive; nginx as the reference)"
hack/bench/http.sh "$BIN"

echo
echo "### Embedded store (OTLP ingest, evaluation over 1,000,000 spans, memory per span)"
B=build/bench-store
make --no-print-directory BUILD=$B LIB_SRC="$(echo apis/base/*.c apis/*.c rules/*.c) \
  server/pbwire.c server/gunzip.c server/otlp_decode.c server/otlp_receiver.c server/store.c \
  server/store_source.c" $B/libta.a >/dev/null
gcc -std=c17 -D_GNU_SOURCE -O2 -I. -pthread -o $B/bench_store hack/bench/bench_store.c \
  $B/libta.a -ljansson -lyaml -lz -lm
for i in 1 2 3; do $B/bench_store 1000000 >"$B/run$i.txt"; done
# median of the three runs per figure: each line is "name value unit…"; the text after the
# value is taken from the first run
awk 'FNR == 1 { f++ } { v[f, FNR] = $2; line[f, FNR] = $0; n = FNR }
  END {
    for (i = 1; i <= n; i++) {
      a = v[1, i]; b = v[2, i]; c = v[3, i]
      m = (a <= b) ? ((b <= c) ? b : ((a <= c) ? c : a)) : ((a <= c) ? a : ((b <= c) ? c : b))
      split(line[1, i], w, " "); rest = ""
      for (k = 3; k <= length(w); k++) rest = rest " " w[k]
      printf "%-32s %12s%s   (runs: %s %s %s)\n", w[1], m, rest, a, b, c
    }
  }' "$B/run1.txt" "$B/run2.txt" "$B/run3.txt"

echo
echo "### Tempo source (quantile accuracy vs Tempo's own, trace decoding, queries per refresh)"
hack/bench/tempo.sh "$BIN"

echo
echo "### Authentication (front proxy + warm SubjectAccessReview cache vs --insecure-disable-auth)"
hack/bench/auth.sh "$BIN"
