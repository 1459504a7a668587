#!/usr/bin/env bash
# tempo.sh — the Tempo source's figures:
#   1. p95 error of the refined quantile vs Tempo's own quantile_over_time, per distribution;
#   2. time to decode and evaluate (io_share) 100 fetched traces of 1,000 spans, JSON vs protobuf;
#   3. Tempo requests per refresh for 1, 10 and 100 HPAs reading the same 5 metrics (fake Tempo).
#
# Usage: hack/bench/tempo.sh [BIN_DIR]   (default: bin; must hold tempo-adapter built by `make`).
# Builds hack/bench/tempo_bench.c against build/tempo-bench/libta.a. Needs gcc and
# /usr/bin/python3. Everything binds to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-bin}
B=build/tempo-bench
make --no-print-directory BUILD=$B LDFLAGS=-pthread \
  LIB_SRC="$(echo apis/base/*.c apis/*.c rules/*.c server/tempo_*.c server/otlp_decode.c server/pbwire.c server/secret_file.c)" \
  $B/libta.a >/dev/null
gcc -std=c17 -D_GNU_SOURCE -O2 -I. -pthread -o $B/tempo_bench hack/bench/tempo_bench.c \
  $B/libta.a -lcurl -ljansson -lyaml -lz -lm
echo "== quantile accuracy and trace decoding =="
$B/tempo_bench
echo
echo "== Tempo requests per refresh =="
/usr/bin/python3 hack/bench/tempo_queries.py "$BIN"
