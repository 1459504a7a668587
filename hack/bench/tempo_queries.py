#!/usr/bin/python3
"""tempo_queries.py — Tempo queries per refresh when 1, 10 or 100 HPAs read the same 5 metrics.

Starts tests/fakes/fake_tempo.py in process with a span data set, then bin/tempo-adapter with
--tempo-url (rules: p95, rate, error ratio, slow ratio, exact io_share; refresh 1s), and lets H
simulated HPAs read all 5 metrics for the same selector once a second. The fake's request log
gives the number of Tempo requests per refresh (per evaluated window), which must not grow with
H: the value cache evaluates each (rule, namespace, selector) once per refresh, and the Tempo
client shares identical queries (the `count_over_time()` of the filter is needed by p95, rate
and slow ratio). Usage: hack/bench/tempo_queries.py [BIN_DIR] (default bin). stdlib only.
"""
import collections
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.integration import harness  # noqa: E402

MS = 1_000_000
RULES = """
defaults:
  window: 5m
  refresh: 1s
  maxAge: 60s
  minSamples: 1
labels:
  service: resource.service.name
externalRules:
  - name: p95
    spans: '{ kind = server }'
    metric: quantile
    quantile: 0.95
  - name: rps
    spans: '{ kind = server }'
    metric: rate
  - name: errors
    spans: '{ kind = server }'
    metric: error_ratio
  - name: slow
    spans: '{ kind = server }'
    metric: slow_ratio
    threshold: 300ms
  - name: io
    spans: '{ kind = server }'
    metric: io_share
    io: '{ kind = client || kind = producer || span.db.system != nil }'
    ioSample: 50
"""
METRICS = ["p95", "rps", "errors", "slow", "io"]
PATH = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/%s?labelSelector=service%%3Dcheckout"


def data(now):
    rng = random.Random(3)
    spans = []
    for i in range(2000):
        t = "%032x" % (i + 1)
        start = now - rng.randint(5, 250) * 10**9
        dur = int(rng.lognormvariate(-1.5, 1.0) * 1e9)
        res = {"service.name": "checkout", "k8s.namespace.name": "shop"}
        spans.append({"trace_id": t, "span_id": "%016x" % (10 * i + 1), "kind": "server",
                      "status": "error" if i % 20 == 0 else "ok", "start_ns": start,
                      "duration_ns": dur, "resource": res, "name": "GET /cart"})
        spans.append({"trace_id": t, "span_id": "%016x" % (10 * i + 2),
                      "parent_span_id": "%016x" % (10 * i + 1), "kind": "client",
                      "start_ns": start + dur // 10, "duration_ns": dur // 2, "resource": res,
                      "attrs": {"db.system": "postgresql"}, "name": "SELECT"})
    return spans


class Fake:
    """fake_tempo.py in its own process (its own GIL), controlled over HTTP."""

    def __init__(self, tmp):
        path = os.path.join(tmp, "spans.json")
        with open(path, "w") as f:
            json.dump({"spans": data(time.time_ns())}, f)
        port_file = os.path.join(tmp, "port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/fakes/fake_tempo.py"),
                                      "--port", "0", "--port-file", port_file, "--data", path],
                                     stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path)
        body = c.getresponse().read()
        c.close()
        return json.loads(body)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run(bin_dir, hpas, seconds=8):
    tmp = tempfile.mkdtemp(prefix="ta-bench-")
    fake = Fake(tmp)
    harness.BIN_DIR = bin_dir
    a = harness.Adapter(rules=RULES, args=["--tempo-url", fake.url, "--query-delay", "0s"])
    a.start()
    try:
        for m in METRICS:  # first evaluation of each key, then start counting
            a.get(PATH % m, timeout=60)
        time.sleep(1.2)
        fake.call("DELETE", "/_fake/requests")
        stop = time.monotonic() + seconds
        served = [0]
        lock = threading.Lock()

        def hpa():
            # one kept-alive TLS connection per HPA, as the HPA controller's client does
            conn = http.client.HTTPSConnection("127.0.0.1", a.port, timeout=30,
                                               context=harness.insecure_context())
            while time.monotonic() < stop:
                t0 = time.monotonic()
                for m in METRICS:
                    conn.request("GET", PATH % m)
                    r = conn.getresponse()
                    r.read()
                    assert r.status == 200, r.status
                    with lock:
                        served[0] += 1
                time.sleep(max(0, 1 - (time.monotonic() - t0)))
            conn.close()

        threads = [threading.Thread(target=hpa) for _ in range(hpas)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reqs = [r for r in fake.call("GET", "/_fake/requests") if r["path"].startswith("/api/")]
    finally:
        a.stop()
        fake.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    per_window = collections.defaultdict(collections.Counter)
    search_window = {}
    for r in reqs:
        if r["path"] in ("/api/metrics/query", "/api/search"):
            end = r["query"].get("end")
            per_window[end]["metrics" if r["path"] == "/api/metrics/query" else "search"] += 1
    # trace fetches belong to the window of the search before them
    last = None
    for r in reqs:
        if r["path"] == "/api/search":
            last = r["query"].get("end")
        elif r["path"].startswith("/api/v2/traces/") and last:
            per_window[last]["traces"] += 1
    ends = sorted(per_window)[1:-1]  # whole refreshes only
    rows = [per_window[e] for e in ends]
    worst = max(rows, key=lambda w: sum(w.values()))
    return served[0], len(reqs) / seconds, worst


def main():
    bin_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bin"))
    print("refresh 1s; Tempo requests per second, and the most any one refresh window got "
          "(metrics queries + searches + trace fetches)")
    print("HPAs  API reads/s  Tempo req/s  max per window")
    for h in (1, 10, 100):
        served, rate, worst = run(bin_dir, h)
        print("%4d  %11.0f  %11.1f  %4d = %d + %d + %d" % (
            h, served / 8, rate, sum(worst.values()), worst["metrics"], worst["search"],
            worst["traces"]))


if __name__ == "__main__":
    main()
