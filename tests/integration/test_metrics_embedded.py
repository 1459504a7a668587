"""test_metrics_embedded.py — every metric over a known span set, on the embedded store.

The expected values are computed here, independently of the adapter: nearest-rank quantile,
rate, error and slow ratios, mean, and io_share with its interval union over IO descendants
reached without crossing a server or consumer span (DESIGN.md "Metric semantics"). The span set
mixes protobuf, OTLP/JSON and gzip, and includes overlapping IO calls, nested internal spans, a
downstream service whose own IO must not count, IO clipped at the parent's end, spans outside
the window, errors, and selectors or namespaces that match nothing.
"""
import math
import unittest

from tests.integration import harness, otlp

MS = 1_000_000
BASE = "/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/%s"

RULES = """
defaults:
  window: 2m
  refresh: 1s
  maxAge: 60s
  minSamples: 1
labels:
  service: resource.service.name
  route: span.http.route
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
  - name: p95_strict
    spans: '{ kind = server }'
    metric: quantile
    quantile: 0.95
    minSamples: 50
"""


def sid(n):
    return n.to_bytes(8, "big")


def tid(n):
    return n.to_bytes(16, "big")


def milli(v):
    """The milli-value the adapter must serve for v (round half to even)."""
    return round(v * 1000)


def quantity_milli(text):
    suffix = {"m": 1, "k": 10**6, "M": 10**9, "G": 10**12}
    if text[-1] in suffix:
        return int(text[:-1]) * suffix[text[-1]]
    return int(text) * 1000


# ---- the reference implementation -------------------------------------------------------

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
    return sp["kind"] in ("client", "producer") or "db.system" in sp["attrs"]


def io_share(spans, parents):
    children = {}
    for sp in spans:
        if sp["parent"]:
            children.setdefault(sp["parent"], []).append(sp)
    covered = total = 0
    for p in parents:
        intervals, stack = [], list(children.get(p["span_id"], []))
        while stack:
            c = stack.pop()
            if c["kind"] in ("server", "consumer"):
                continue
            if is_io(c):
                s, e = max(c["start_ns"], p["start_ns"]), min(c["end_ns"], p["end_ns"])
                if e > s:
                    intervals.append((s, e))
            stack.extend(children.get(c["span_id"], []))
        covered += union_length(intervals)
        total += p["end_ns"] - p["start_ns"]
    return covered / total


# ---- the data set -----------------------------------------------------------------------

def io_trace(t0, n):
    """One checkout request with every io_share trap; returns (checkout spans, payment spans)."""
    T = tid(0xA000 + n)
    P, DB, PAY, INT, NESTED, LATE, S2, S2DB = (sid(0xA00 + 16 * n + i) for i in range(1, 9))
    co = [
        otlp.span(T, P, "POST /checkout", "server", t0, t0 + 100 * MS, attrs={"http.route": "checkout"}),
        # two overlapping IO calls: [10,40] and [30,60] count as [10,60]
        otlp.span(T, DB, "SELECT", "client", t0 + 10 * MS, t0 + 40 * MS, parent=P,
                  attrs={"db.system": "postgresql"}),
        otlp.span(T, PAY, "POST /pay", "client", t0 + 30 * MS, t0 + 60 * MS, parent=P),
        # an internal span with an IO child: [70,95] counts
        otlp.span(T, INT, "render", "internal", t0 + 60 * MS, t0 + 90 * MS, parent=P),
        otlp.span(T, NESTED, "GET cache", "client", t0 + 70 * MS, t0 + 95 * MS, parent=INT),
        # IO past the parent's end is clipped: [95,130] counts as [95,100]
        otlp.span(T, LATE, "publish", "producer", t0 + 95 * MS, t0 + 130 * MS, parent=P),
    ]
    pay = [
        # the downstream server span stops the walk: its db call [35,99] is not the checkout's
        otlp.span(T, S2, "POST /pay", "server", t0 + 32 * MS, t0 + 58 * MS, parent=PAY),
        otlp.span(T, S2DB, "INSERT", "client", t0 + 35 * MS, t0 + 99 * MS, parent=S2,
                  attrs={"db.system": "postgresql"}),
    ]
    return co, pay


class EmbeddedMetricsTest(harness.AdapterTest):
    @classmethod
    def setUpClass(cls):
        cls.a = harness.Adapter(rules=RULES, args=["--query-delay", "0s"]).start()
        cls.addClassCleanup(cls.a.kill)  # runs even if the rest of setUpClass fails
        now = otlp.now_ns()
        checkout, payment, other_ns = [], [], []
        # 40 server spans of 10..400 ms, one in five an error; ids unique per span
        for i in range(40):
            t0 = now - (90 - i) * 10**9
            checkout.append(otlp.span(tid(i + 1), sid(i + 1), "GET /items", "server", t0,
                                      t0 + (i + 1) * 10 * MS, status="error" if i % 5 == 0 else "ok",
                                      attrs={"http.route": "items"}))
        # outside the window: 150 s ago (stored, too old for the window) and 30 s ahead
        outside = [otlp.span(tid(100 + i), sid(100 + i), "GET /items", "server",
                             now + sign * 10**9, now + sign * 10**9 + 10_000 * MS)
                   for i, sign in enumerate((-150, -150, 30, 30))]
        io_co, io_pay = [], []
        for n in range(3):
            co, pay = io_trace(now - (60 - n) * 10**9, n)
            io_co += co
            io_pay += pay
        # the same service in another namespace must not leak into "shop"
        other_ns.append(otlp.span(tid(300), sid(300), "GET /items", "server", now - 20 * 10**9,
                                  now - 20 * 10**9 + 5000 * MS))
        cls.checkout = checkout
        cls.io_checkout = io_co
        cls.io_payment = io_pay
        res = lambda svc, ns="shop": {"service.name": svc, "k8s.namespace.name": ns}
        # protobuf, protobuf+gzip, JSON, JSON+gzip (enum names), mixed across requests
        sends = [
            (otlp.encode_request([{"resource": res("checkout"), "spans": checkout[:20]}]), "application/x-protobuf", None),
            (otlp.gzip(otlp.encode_request([{"resource": res("checkout"), "spans": checkout[20:] + outside}])),
             "application/x-protobuf", "gzip"),
            (otlp.to_json([{"resource": res("checkout"), "spans": io_co}]), "application/json", None),
            (otlp.gzip(otlp.to_json([{"resource": res("payment"), "spans": io_pay},
                                     {"resource": res("checkout", "other"), "spans": other_ns}],
                                    enum_names=True)), "application/json", "gzip"),
        ]
        for body, ctype, enc in sends:
            r = cls.a.otlp_post(body, ctype, headers={"Content-Encoding": enc} if enc else None)
            assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()

    def value(self, metric, ns="shop", selector=None):
        path = BASE % (ns, metric)
        if selector:
            path += "?labelSelector=" + selector
        r = self.a.get(path)
        self.assertEqual(r.status, 200, r)
        items = r.json()["items"]
        self.assertEqual(len(items), 1)
        return quantity_milli(items[0]["value"])

    def test_quantiles_are_nearest_rank(self):
        durations = [(s["end_ns"] - s["start_ns"]) / 1e9 for s in self.checkout]
        sel = "route%3Ditems"  # only the 40 GET /items spans
        self.assertEqual(self.value("p95", selector=sel), milli(nearest_rank(durations, 0.95)))
        self.assertEqual(self.value("p95", selector=sel), 380)  # the 38th of 10..400 ms
        self.assertEqual(self.value("p50", selector=sel), 200)  # the 20th

    def test_rate_error_slow_mean(self):
        sel = "route%3Ditems"
        spans = self.checkout
        n = len(spans)
        self.assertEqual(self.value("rps", selector=sel), milli(n / 120))
        errors = sum(1 for s in spans if s["status"] == "error")
        self.assertEqual(self.value("errors", selector=sel), milli(errors / n))
        self.assertEqual(self.value("errors", selector=sel), 200)
        slow = sum(1 for s in spans if s["end_ns"] - s["start_ns"] > 300 * MS)
        self.assertEqual(self.value("slow", selector=sel), milli(slow / n))
        self.assertEqual(self.value("slow", selector=sel), 250)
        mean = sum(s["end_ns"] - s["start_ns"] for s in spans) / n / 1e9
        self.assertEqual(self.value("mean", selector=sel), milli(mean))
        self.assertEqual(self.value("mean", selector=sel), 205)

    def test_io_share_unions_overlaps_and_stops_at_servers(self):
        all_spans = self.io_checkout + self.io_payment
        parents = [s for s in self.io_checkout if s["kind"] == "server"]
        want = io_share(all_spans, parents)
        self.assertAlmostEqual(want, 0.8)  # 80 of each 100 ms, worked out in io_trace()
        self.assertEqual(self.value("io", selector="service%3Dcheckout,route%3Dcheckout"), 800)
        # the payment service's own server spans: 23 of 26 ms each
        pay_parents = [s for s in self.io_payment if s["kind"] == "server"]
        self.assertEqual(self.value("io", selector="service%3Dpayment"),
                         milli(io_share(all_spans, pay_parents)))

    def test_min_samples_refuses_a_noisy_statistic(self):
        r = self.a.get(BASE % ("shop", "p95_strict") + "?labelSelector=route%3Ditems")
        st = self.assertStatus(r, 503, "ServiceUnavailable")
        self.assertIn("p95_strict", st["message"])
        self.assertIn("40", st["message"])
        self.assertIn("50", st["message"])

    def test_nothing_matches(self):
        for ns, sel in (("nowhere", None), ("shop", "service%3Dnosuch"),
                        ("shop", "route+in+%28a%2Cb%29")):
            path = BASE % (ns, "p95") + ("?labelSelector=" + sel if sel else "")
            st = self.assertStatus(self.a.get(path), 503)
            self.assertIn("no matching spans", st["message"])
            self.assertEqual(self.value("rps", ns=ns, selector=sel), 0)  # onEmpty: zero

    def test_namespaces_are_separate(self):
        self.assertEqual(self.value("rps", ns="other"), milli(1 / 120))
        self.assertEqual(self.value("p95", ns="other"), 5000)

    def test_selector_operators(self):
        # notin and != keep spans whose attribute is missing or different (Kubernetes semantics)
        n_items = len(self.checkout)
        n_checkout_routes = len([s for s in self.io_checkout if s["kind"] == "server"])
        self.assertEqual(self.value("rps", selector="service%3Dcheckout,route%21%3Ditems"),
                         milli(n_checkout_routes / 120))
        self.assertEqual(self.value("rps", selector="service%3Dcheckout,route+notin+%28checkout%29"),
                         milli(n_items / 120))
        self.assertEqual(self.value("rps", selector="route"), milli((n_items + n_checkout_routes) / 120))
        self.assertEqual(self.value("rps", selector="%21route"),
                         milli(len([s for s in self.io_payment if s["kind"] == "server"]) / 120))


if __name__ == "__main__":
    unittest.main()
