"""test_tempo.py — every metric computed from Grafana Tempo, end to end, against the fake Tempo.

bin/tempo-adapter runs with --tempo-url pointing at tests/fakes/fake_tempo.py (in process), which
evaluates the TraceQL the adapter renders over a span data set loaded here. Expected values are
computed in this file from the same data (nearest rank by sorting, interval unions for
io_share), independently of the adapter and of the fake. Covered: each metric; the p95 within
5 % of the exact nearest rank over several distributions (and Tempo's own quantile_over_time
error for comparison); io_share exact and approximate; every failure mode (Tempo down, slow,
429, 5xx, garbage, truncated and huge answers) with the last good value served until maxAge,
then a 503 saying why, then recovery; flat memory across failures; multi-tenancy; auth headers
and secrets never logged at -v 10; readiness while Tempo is unreachable.
"""
import json
import math
import os
import random
import re
import time
import unittest
import urllib.parse
import urllib.request

from tests.fakes.fake_tempo import FakeTempo, log2_bucket, log2_quantile
from tests.integration import harness

MS = 1_000_000
S = 1_000_000_000
BASE = "/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/%s"
SLOW = harness.SLOW

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
  - name: p50
    spans: '{ kind = server }'
    metric: quantile
    quantile: 0.5
  - name: rps
    spans: '{ kind = server }'
    metric: rate
    onEmpty: zero
  - name: errors
    spans: '{ kind = server }'
    metric: error_ratio
  - name: slow
    spans: '{ kind = server }'
    metric: slow_ratio
    threshold: 300ms
  - name: mean
    spans: '{ kind = server }'
    metric: mean
  - name: io
    spans: '{ kind = server }'
    metric: io_share
    io: '{ kind = client || kind = producer || span.db.system != nil }'
  - name: io_approx
    spans: '{ kind = server }'
    metric: io_share
    io: '{ kind = client || kind = producer || span.db.system != nil }'
    mode: approximate
"""

# Short maxAge for the failure tests: a stale value turns into a 503 quickly.
FAIL_RULES = """
defaults:
  window: 5m
  refresh: 1s
  maxAge: 3s
  minSamples: 1
labels:
  service: resource.service.name
externalRules:
  - name: rps
    spans: '{ kind = server }'
    metric: rate
  - name: p95
    spans: '{ kind = server }'
    metric: quantile
    quantile: 0.95
  - name: io
    spans: '{ kind = server }'
    metric: io_share
    io: '{ kind = client }'
"""


# ---- reference implementation -----------------------------------------------------------

def nearest_rank(values, q):
    s = sorted(values)
    return s[max(1, math.ceil(q * len(s))) - 1]


def union_length(intervals):
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


def is_io(sp):
    return sp["kind"] in ("client", "producer") or "db.system" in sp.get("attrs", {})


def io_share_exact(spans, parents):
    children = {}
    for sp in spans:
        if sp.get("parent_span_id"):
            children.setdefault((sp["trace_id"], sp["parent_span_id"]), []).append(sp)
    covered = total = 0
    for p in parents:
        intervals, stack = [], list(children.get((p["trace_id"], p["span_id"]), []))
        while stack:
            c = stack.pop()
            if c["kind"] in ("server", "consumer"):
                continue
            if is_io(c):
                s, e = max(c["start_ns"], p["start_ns"]), min(end(c), end(p))
                if e > s:
                    intervals.append((s, e))
            stack.extend(children.get((c["trace_id"], c["span_id"]), []))
        covered += union_length(intervals)
        total += end(p) - p["start_ns"]
    return covered / total


def io_share_approx(spans, parents):
    ids = {(p["trace_id"], p["span_id"]) for p in parents}
    num = sum(end(s) - s["start_ns"] for s in spans
              if is_io(s) and (s["trace_id"], s.get("parent_span_id")) in ids)
    return num / sum(end(p) - p["start_ns"] for p in parents)


def end(sp):
    return sp["start_ns"] + sp["duration_ns"]


def quantity(text):
    """A Kubernetes quantity as a float."""
    suffix = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if text[-1] in suffix:
        return float(text[:-1]) * suffix[text[-1]]
    return float(text)


def milli(v):
    return round(v * 1000) / 1000


# ---- data -------------------------------------------------------------------------------

class Data:
    """Builds spans for the fake; ids are unique per Data instance."""

    def __init__(self, now_ns, seed=7):
        self.now = now_ns
        self.rng = random.Random(seed)
        self.spans = []
        self.next_trace = 1
        self.next_span = 1

    def ids(self):
        self.next_span += 1
        return "%016x" % self.next_span

    def trace(self):
        self.next_trace += 1
        return "%032x" % (0xABC00000 + self.next_trace)

    def span(self, trace_id, kind, start_ns, dur_ns, service, parent=None, status="ok",
             attrs=None, ns="shop", name="op"):
        sp = {"trace_id": trace_id, "span_id": self.ids(), "parent_span_id": parent or "",
              "name": name, "kind": kind, "status": status, "start_ns": int(start_ns),
              "duration_ns": int(dur_ns), "attrs": attrs or {},
              "resource": {"service.name": service, "k8s.namespace.name": ns}}
        self.spans.append(sp)
        return sp

    def when(self):
        """A start time well inside the window for the next minute: 200 s .. 5 s ago."""
        return self.now - self.rng.randint(5 * S, 200 * S)

    def servers(self, service, durations, error_every=0):
        out = []
        for i, d in enumerate(durations):
            out.append(self.span(self.trace(), "server", self.when(), d, service,
                                 status="error" if error_every and i % error_every == 0 else "ok"))
        return out

    def io_trace(self, service, with_io=True):
        """A request with overlapping IO, an internal span with an IO child, IO past the
        parent's end and a downstream server span whose own IO must not count."""
        t = self.trace()
        t0 = self.when()
        p = self.span(t, "server", t0, 100 * MS, service)
        if not with_io:
            self.span(t, "internal", t0 + 10 * MS, 50 * MS, service, parent=p["span_id"])
            return p
        self.span(t, "client", t0 + 10 * MS, 30 * MS, service, parent=p["span_id"],
                  attrs={"db.system": "postgresql"})
        pay = self.span(t, "client", t0 + 30 * MS, 30 * MS, service, parent=p["span_id"])
        internal = self.span(t, "internal", t0 + 60 * MS, 30 * MS, service, parent=p["span_id"])
        self.span(t, "client", t0 + 70 * MS, 25 * MS, service, parent=internal["span_id"])
        self.span(t, "producer", t0 + 95 * MS, 35 * MS, service, parent=p["span_id"])
        s2 = self.span(t, "server", t0 + 32 * MS, 26 * MS, "payment", parent=pay["span_id"])
        self.span(t, "client", t0 + 35 * MS, 64 * MS, "payment", parent=s2["span_id"],
                  attrs={"db.system": "postgresql"})
        return p


def lognormal(rng, n):
    out = []
    while len(out) < n:
        v = math.exp(math.log(0.25) + 1.4 * rng.gauss(0, 1))
        if 0.001 <= v <= 60:
            out.append(int(v * S))
    return out


def bimodal(rng, n):
    return [int((0.002 * math.exp(0.2 * rng.gauss(0, 1)) if rng.random() < 0.7 else
                 0.8 * math.exp(0.3 * rng.gauss(0, 1))) * S) for _ in range(n)]


def uniform(rng, n):
    return [int(rng.uniform(0.001, 60) * S) for _ in range(n)]


def heavy(rng, n):
    return [int(min(60, 0.005 / rng.random() ** (1 / 1.2)) * S) for _ in range(n)]


DISTRIBUTIONS = {"d-lognormal": lognormal, "d-bimodal": bimodal, "d-uniform": uniform,
                 "d-heavy": heavy}


def adapter_args(fake, *extra):
    return ["--tempo-url", fake.url, "--query-delay", "0s", "--tempo-timeout", "5s"] + list(extra)


class TempoTestCase(harness.AdapterTest):
    def get_value(self, a, metric, service=None, ns="shop"):
        path = BASE % (ns, metric) + ("?labelSelector=service%3D" + service if service else "")
        r = a.get(path, timeout=30)
        self.assertEqual(r.status, 200, r)
        items = r.json()["items"]
        self.assertEqual(len(items), 1)
        return quantity(items[0]["value"])

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout * SLOW
        last = None
        while time.monotonic() < deadline:
            last = pred()
            if last:
                return last
            time.sleep(0.1)
        self.fail("timed out waiting for %s (last: %r)" % (what, last))


# ---- every metric -----------------------------------------------------------------------

class TempoMetricsTest(TempoTestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeTempo().start()
        d = Data(time.time_ns())
        rng = random.Random(11)
        cls.checkout = d.servers("checkout", [rng.randint(5, 600) * MS for _ in range(300)],
                                 error_every=5)
        cls.orders = [d.io_trace("orders", with_io=(i % 4 != 0)) for i in range(24)]
        cls.dists = {name: d.servers(name, fn(random.Random(sum(map(ord, name))), 400))
                     for name, fn in DISTRIBUTIONS.items()}
        cls.all = d.spans
        cls.fake.load(d.spans)
        cls.a = harness.Adapter(rules=RULES, args=adapter_args(cls.fake)).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.fake.stop()

    def durations(self, spans):
        return [s["duration_ns"] for s in spans]

    def test_rate_error_slow_mean(self):
        n = len(self.checkout)
        self.assertAlmostEqual(self.get_value(self.a, "rps", "checkout"), milli(n / 300),
                               delta=0.0011)
        errors = sum(1 for s in self.checkout if s["status"] == "error")
        self.assertAlmostEqual(self.get_value(self.a, "errors", "checkout"), milli(errors / n),
                               delta=0.0011)
        slow = sum(1 for s in self.checkout if s["duration_ns"] > 300 * MS)
        self.assertAlmostEqual(self.get_value(self.a, "slow", "checkout"), milli(slow / n),
                               delta=0.0011)
        mean = sum(self.durations(self.checkout)) / n / S
        self.assertAlmostEqual(self.get_value(self.a, "mean", "checkout"), milli(mean),
                               delta=0.0011)

    def test_quantiles_are_within_one_percent_of_the_nearest_rank(self):
        durs = self.durations(self.checkout)
        for metric, q in (("p95", 0.95), ("p50", 0.5)):
            want = nearest_rank(durs, q) / S
            got = self.get_value(self.a, metric, "checkout")
            self.assertLess(abs(got - want) / want, 0.01, "%s: got %g, exact %g" % (metric, got, want))

    def test_p95_accuracy_over_distributions_and_query_budget(self):
        report = []
        for name, spans in self.dists.items():
            durs = self.durations(spans)
            exact = nearest_rank(durs, 0.95) / S
            got = self.get_value(self.a, "p95", name)
            err = abs(got - exact) / exact
            # Tempo's own quantile_over_time over the same spans, asked of the fake directly
            q = '{ resource.service.name = "%s" } | quantile_over_time(duration, .95)' % name
            with urllib.request.urlopen(self.fake.url + "/api/metrics/query?" + urllib.parse.urlencode(
                    {"q": q, "start": (time.time_ns() - 299 * S) // S,
                     "end": time.time_ns() // S})) as r:
                tempo = float(json.loads(r.read())["series"][0]["value"])
            # … which is Tempo's power-of-two interpolation (spec §7.3)
            hist = {}
            for v in durs:
                b = log2_bucket(v)
                hist[b] = hist.get(b, 0) + 1
            self.assertAlmostEqual(tempo, log2_quantile(list(hist.items()), 0.95) / S, places=9)
            terr = abs(tempo - exact) / exact
            report.append("%-12s exact %.4fs adapter %.4fs (%.2f%%) tempo %.4fs (%.1f%%)"
                          % (name, exact, got, err * 100, tempo, terr * 100))
            self.assertLessEqual(err, 0.05, report[-1])
        # every evaluation of one (rule, selector, window) used at most 8 Tempo queries
        windows = {}
        for r in self.fake.requests("/api/metrics/query"):
            if not r["headers"].get("user-agent", "").startswith("tempo-adapter"):
                continue  # this test's own quantile_over_time queries
            q = r["query"].get("q", "")
            m = re.search(r'"(d-[a-z]+)"', q)
            if m:
                key = (m.group(1), r["query"].get("start"), r["query"].get("end"))
                windows[key] = windows.get(key, 0) + 1
        self.assertTrue(windows)
        self.assertLessEqual(max(windows.values()), 8, windows)
        print("\n" + "\n".join(report))

    def test_io_share_exact_and_approximate(self):
        parents = self.orders
        want = io_share_exact(self.all, parents)
        self.assertAlmostEqual(want, 0.6)  # 18 of 24 traces at 80 %, 6 without IO
        self.assertAlmostEqual(self.get_value(self.a, "io", "orders"), milli(want), delta=0.0011)
        approx = io_share_approx(self.all, parents)
        self.assertAlmostEqual(approx, 0.95 * 18 / 24)  # direct children only, overlaps double-count
        self.assertAlmostEqual(self.get_value(self.a, "io_approx", "orders"), milli(approx),
                               delta=0.0011)
        traces = self.fake.requests("/api/v2/traces/")
        self.assertTrue(traces)
        self.assertTrue(all("application/protobuf" in r["headers"].get("accept", "")
                            for r in traces))
        search = self.fake.requests("/api/search")
        self.assertTrue(any("most_recent=true" in r["query"]["q"] for r in search))

    def test_requests_carry_gzip_and_big_answers_are_compressed(self):
        self.get_value(self.a, "io", "orders")
        reqs = [r for r in self.fake.requests("/api/")
                if r["headers"].get("user-agent", "").startswith("tempo-adapter")]
        self.assertTrue(reqs)
        self.assertTrue(all("gzip" in r["headers"].get("accept-encoding", "") for r in reqs))
        self.assertTrue(any(r["gzip"] for r in reqs), "some answers were gzip-compressed")

    def test_selector_matching_nothing(self):
        self.assertEqual(self.get_value(self.a, "rps", "nosuch"), 0)  # onEmpty: zero
        r = self.a.get(BASE % ("shop", "p95") + "?labelSelector=service%3Dnosuch")
        st = self.assertStatus(r, 503)
        self.assertIn("no matching spans", st["message"])


class TempoJsonTracesTest(TempoTestCase):
    def test_io_share_exact_with_json_traces(self):
        fake = FakeTempo().start()
        self.addCleanup(fake.stop)
        fake.configure(protobuf=False, not_found="empty")
        d = Data(time.time_ns())
        parents = [d.io_trace("orders", with_io=(i % 3 != 0)) for i in range(9)]
        fake.load(d.spans)
        a = self.adapter(rules=RULES, args=adapter_args(fake))
        want = io_share_exact(d.spans, parents)
        self.assertAlmostEqual(self.get_value(a, "io", "orders"), milli(want), delta=0.0011)


# ---- failures ---------------------------------------------------------------------------

class TempoFailureTest(TempoTestCase):
    def setUp(self):
        self.fake = FakeTempo().start()
        self.addCleanup(lambda: self.fake.stop())
        d = Data(time.time_ns())
        self.spans = d.servers("checkout", [(i + 1) * MS for i in range(60)])
        d.io_trace("checkout")
        self.fake.load(d.spans)
        self.n = len([s for s in d.spans if s["kind"] == "server" and
                      s["resource"]["service.name"] == "checkout"])

    def start(self, *extra):
        return self.adapter(rules=FAIL_RULES, args=adapter_args(self.fake, *extra))

    def status_of(self, a, metric="rps"):
        return a.get(BASE % ("shop", metric) + "?labelSelector=service%3Dcheckout", timeout=30)

    def stale_then_503_then_recover(self, a, fault, reason, restore):
        good = self.get_value(a, "rps", "checkout")
        self.assertAlmostEqual(good, milli(self.n / 300), delta=0.0011)
        fault()
        # the last good value is served until maxAge (3 s) ...
        r = self.status_of(a)
        self.assertEqual(r.status, 200, r)
        # ... then a 503 Status that says why
        r = self.wait_for(lambda: (lambda x: x if x.status == 503 else None)(self.status_of(a)),
                          20, "a 503 after maxAge")
        st = self.assertStatus(r, 503)
        self.assertRegex(st["message"], reason)
        restore()
        r = self.wait_for(lambda: (lambda x: x if x.status == 200 else None)(self.status_of(a)),
                          15, "recovery")
        self.assertAlmostEqual(quantity(r.json()["items"][0]["value"]), good, delta=0.0011)

    def test_tempo_down_then_back(self):
        a = self.start()
        port = self.fake.port

        def down():
            self.fake.stop()

        def up():
            self.fake = FakeTempo(port=port, state=self.fake.state).start()
        self.stale_then_503_then_recover(a, down, r"tempo: GET /api/metrics/query: .*(connect|Connection)", up)

    def test_slow_tempo_times_out(self):
        a = self.start("--tempo-timeout", "500ms")
        self.stale_then_503_then_recover(
            a, lambda: self.fake.faults({"path": "^/api/", "count": -1, "kind": "delay",
                                         "delay_s": 1.5}),
            r"timeout after 500ms", lambda: self.fake.faults())

    def test_5xx_persistent(self):
        a = self.start()
        self.stale_then_503_then_recover(
            a, lambda: self.fake.faults({"count": -1, "kind": "status", "status": 503,
                                         "body": "Query Frontend not ready"}),
            r"503 Query Frontend not ready after 3 attempts", lambda: self.fake.faults())

    def test_garbage_truncated_and_huge_answers(self):
        a = self.start()
        for kind, reason in (("garbage", r"unparsable answer"),
                             ("truncated_json", r"unparsable answer"),
                             ("truncated", r"tempo: GET /api/metrics/query: .*after 3 attempts"),
                             ("huge", r"answer larger than 16777216 bytes")):
            with self.subTest(kind=kind):
                self.stale_then_503_then_recover(
                    a, lambda k=kind: self.fake.faults({"count": -1, "kind": k}), reason,
                    lambda: self.fake.faults())

    def test_partial_answers_are_used_and_counted(self):
        a = self.start()
        self.fake.faults({"path": "^/api/metrics", "count": -1, "kind": "partial",
                          "message": "Response exceeds maximum series limit of 3"})
        self.assertAlmostEqual(self.get_value(a, "rps", "checkout"), milli(self.n / 300),
                               delta=0.0011)
        r = a.get("/metrics")
        self.assertEqual(r.status, 200, r)
        m = re.search(rb"^tempo_adapter_tempo_partial_answers_total (\d+)", r.body, re.M)
        self.assertTrue(m and int(m.group(1)) > 0, r.body[:2000])
        self.assertIn("partial answer", a.logs())

    def test_429_then_recovery_keeps_the_value_fresh(self):
        a = self.start()
        self.get_value(a, "rps", "checkout")
        self.fake.clear_requests()
        self.fake.faults({"path": "^/api/metrics", "count": 2, "kind": "status", "status": 429,
                          "body": "job queue full"})
        time.sleep(2.5 * SLOW)
        # the retries absorbed both 429s: the value never went stale
        self.assertEqual(self.status_of(a).status, 200)
        codes = [r["status"] for r in self.fake.requests("/api/metrics")]
        self.assertEqual(codes.count(429), 2, codes)
        self.assertIn(200, codes[codes.index(429):])

    @unittest.skipIf(harness.SAN, "sanitizer allocators keep freed memory in quarantine")
    def test_memory_stays_flat_across_many_failures(self):
        a = self.start()
        self.get_value(a, "rps", "checkout")
        paths = [BASE % ("shop", m) + "?labelSelector=service%%3Dsvc%d" % i
                 for i in range(30) for m in ("rps", "p95", "io")]

        def read_all():  # keeps the 90 failing keys alive (unread keys expire after 10 s)
            for p in paths:
                a.get(p)

        def rss_kb():
            with open("/proc/%d/status" % a.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])

        def fail_for(seconds, fault):
            self.fake.faults(fault)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                read_all()
                time.sleep(1)

        fail_for(3, {"count": -1, "kind": "garbage"})  # warm up: every path allocated once
        before = rss_kb()
        n0 = len(self.fake.requests())
        fail_for(5, {"count": -1, "kind": "status", "status": 400, "body": "bad request"})
        fail_for(5, {"count": -1, "kind": "garbage"})
        after = rss_kb()
        failed = len(self.fake.requests()) - n0
        self.assertGreater(failed, 300, "enough failing requests to show a leak")
        self.assertLess(after - before, 3072, "RSS grew from %d to %d kB over %d failed requests"
                        % (before, after, failed))


# ---- access -----------------------------------------------------------------------------

class TempoAccessTest(TempoTestCase):
    def test_multi_tenancy(self):
        fake = FakeTempo().start()
        self.addCleanup(fake.stop)
        fake.configure(multitenancy=True)
        now = time.time_ns()
        a_spans, b_spans = Data(now, 1), Data(now, 2)
        a_spans.servers("checkout", [10 * MS] * 30)
        b_spans.servers("checkout", [10 * MS] * 90)
        fake.load(a_spans.spans, tenant="team-a")
        fake.load(b_spans.spans, tenant="team-b")
        a = self.adapter(rules=FAIL_RULES, args=adapter_args(fake, "--tempo-tenant", "team-a"))
        self.assertAlmostEqual(self.get_value(a, "rps", "checkout"), milli(30 / 300), delta=0.0011)
        reqs = fake.requests("/api/metrics")
        self.assertTrue(all(r["headers"].get("x-scope-orgid") == "team-a" for r in reqs))
        # without a tenant: Tempo answers 401 and the Status says how to fix it
        b = self.adapter(rules=FAIL_RULES, args=adapter_args(fake))
        st = self.assertStatus(b.get(BASE % ("shop", "rps") + "?labelSelector=service%3Dcheckout",
                                     timeout=30), 503)
        self.assertIn("401 no org id", st["message"])
        self.assertIn("--tempo-tenant", st["message"])

    def test_auth_headers_sent_and_secrets_never_logged(self):
        fake = FakeTempo().start()
        self.addCleanup(fake.stop)
        d = Data(time.time_ns())
        d.servers("checkout", [10 * MS] * 12)
        fake.load(d.spans)
        tmp = self.tmpdir()
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("s3cr3t-bearer-token-value\n")
        a = self.adapter(rules=FAIL_RULES, args=adapter_args(
            fake, "--tempo-bearer-token-file", token, "--tempo-header", "X-Api-Key=k3y-v4lue",
            "-v", "10"))
        self.get_value(a, "rps", "checkout")
        req = fake.requests("/api/metrics")[0]
        self.assertEqual(req["headers"].get("authorization"), "Bearer s3cr3t-bearer-token-value")
        self.assertEqual(req["headers"].get("x-api-key"), "k3y-v4lue")
        # the token rotates: the new one is used within a few seconds
        with open(token + ".new", "w") as f:
            f.write("r0tated-token")
        os.rename(token + ".new", token)
        self.wait_for(lambda: any(r["headers"].get("authorization") == "Bearer r0tated-token"
                                  for r in fake.requests("/api/")), 10, "the rotated token")
        logs = a.stop()
        for secret in ("s3cr3t-bearer", "r0tated-token", "k3y-v4lue"):
            self.assertNotIn(secret, logs)
        self.assertIn(token, logs)  # the file it came from is named

        basic = os.path.join(tmp, "basic")
        with open(basic, "w") as f:
            f.write("123456:glc_p4ssword\n")
        b = self.adapter(rules=FAIL_RULES, args=adapter_args(
            fake, "--tempo-basic-auth-file", basic, "-v", "10"))
        fake.clear_requests()
        self.get_value(b, "p95", "checkout")
        auth = fake.requests("/api/metrics")[0]["headers"].get("authorization")
        self.assertEqual(auth, "Basic MTIzNDU2OmdsY19wNHNzd29yZA==")  # base64 of the file
        logs = b.stop()
        self.assertNotIn("glc_p4ssword", logs)
        self.assertNotIn("MTIzNDU2OmdsY19wNHNzd29yZA", logs)

    def tmpdir(self):
        import tempfile
        import shutil
        d = tempfile.mkdtemp(prefix="ta-tempo-")
        self.addCleanup(lambda: shutil.rmtree(d, ignore_errors=True))
        return d

    def test_tls_ca_client_certificate_and_skip_verify(self):
        from tests.fakes import pki
        tmp = self.tmpdir()
        p = os.path.join(tmp, "pki")
        pki.make_pki(p)
        crt = lambda name: os.path.join(p, name + ".crt")
        key = lambda name: os.path.join(p, name + ".key")
        fake = FakeTempo(tls_cert=crt("apiserver"), tls_key=key("apiserver"),
                         client_ca=crt("client-ca")).start()
        self.addCleanup(fake.stop)
        self.assertTrue(fake.url.startswith("https://"))
        d = Data(time.time_ns())
        d.servers("checkout", [10 * MS] * 15)
        fake.load(d.spans)
        mtls = ["--tempo-client-cert-file", crt("adapter-client"),
                "--tempo-client-key-file", key("adapter-client")]
        a = self.adapter(rules=FAIL_RULES, args=adapter_args(
            fake, "--tempo-ca-file", crt("cluster-ca"), *mtls))
        self.assertAlmostEqual(self.get_value(a, "rps", "checkout"), milli(15 / 300), delta=0.0011)
        # a server certificate from an unknown CA is refused, with a message saying so
        b = self.adapter(rules=FAIL_RULES, args=adapter_args(
            fake, "--tempo-ca-file", crt("rogue-ca"), *mtls))
        st = self.assertStatus(b.get(BASE % ("shop", "rps") + "?labelSelector=service%3Dcheckout",
                                     timeout=30), 503)
        self.assertRegex(st["message"], r"(?i)certificate")
        # skipping verification works (and is logged loudly at startup)
        c = self.adapter(rules=FAIL_RULES, args=adapter_args(
            fake, "--tempo-insecure-skip-verify", *mtls))
        self.assertAlmostEqual(self.get_value(c, "rps", "checkout"), milli(15 / 300), delta=0.0011)
        self.assertIn("TLS verification OFF", c.logs())

    def test_unreachable_at_start_is_not_ready_then_ready(self):
        port = harness.free_port()
        url = "http://127.0.0.1:%d" % port
        a = self.adapter(rules=FAIL_RULES, args=["--tempo-url", url, "--query-delay", "0s"])
        r = a.get("/readyz?verbose")
        self.assertEqual(r.status, 500, r)  # as kube-apiserver's /readyz answers a failed check
        self.assertIn(b"[-]trace-source failed: tempo at " + url.encode() + b" is not reachable",
                      r.body)
        fake = FakeTempo(port=port).start()
        self.addCleanup(fake.stop)
        self.wait_for(lambda: a.get("/readyz").status == 200, 20, "/readyz after Tempo came up")
        self.assertIn("is Tempo 2.9.0", a.logs())


if __name__ == "__main__":
    unittest.main()
