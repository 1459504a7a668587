"""test_otlp_ingest.py — OTLP/HTTP into the embedded store, values out of the metrics API.

Starts the real adapter (embedded store, refresh 1s, no query delay), sends shop traces with
otlp.py (protobuf, JSON, gzip) or bin/tracegen, and reads every metric kind back; expected
values are worked out from the traces sent. Every wait is bounded.
"""
import os
import subprocess
import time
import unittest

from tests.integration import harness, otlp

RULES = """
defaults:
  window: 2m
  refresh: 1s
  maxAge: 60s
  minSamples: 1
  namespaceAttribute: resource.k8s.namespace.name
labels:
  service: resource.service.name
  route: span.http.route
externalRules:
  - name: p95
    spans: '{ kind = server }'
    metric: quantile
    quantile: 0.95
  - name: io
    spans: '{ kind = server }'
    metric: io_share
    io: '{ kind = client || kind = producer || span.db.system != nil }'
  - name: rps
    spans: '{ kind = server }'
    metric: rate
  - name: errors
    spans: '{ kind = server }'
    metric: error_ratio
  - name: slow
    spans: '{ kind = server }'
    metric: slow_ratio
    threshold: 110ms
  - name: avg
    spans: '{ kind = server }'
    metric: mean
"""

BASE = "/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/"
SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}


def quantity(text):
    """A Kubernetes Quantity string ("128m", "2", "109500u") as a float."""
    if text and text[-1] in SUFFIX:
        return float(text[:-1]) * SUFFIX[text[-1]]
    return float(text)


class OtlpIngestTest(harness.AdapterTest):

    def start(self):
        return self.adapter(rules=RULES, args=["--query-delay", "0s"])

    def value(self, a, metric, selector="service%3Dcheckout", want=None):
        """Polls until the metric answers 200 with a value within 0.5% of want (any value
        when want is None); returns it as a float."""
        deadline = time.monotonic() + 20 * harness.SLOW
        last = None
        while time.monotonic() < deadline:
            last = a.get(BASE + metric + "?labelSelector=" + selector)
            if last.status == 200:
                v = quantity(last.json()["items"][0]["value"])
                if want is None or abs(v - want) <= 0.005 * abs(want) + 1e-9:
                    return v
            time.sleep(0.2)
        self.fail("%s never answered %s: %r" % (metric, want, last))

    def test_protobuf_spans_feed_every_metric(self):
        a = self.start()
        now = otlp.now_ns()
        rs = []
        # 20 checkout traces of 100..119 ms ending 3 s ago, every 5th an error
        for i in range(20):
            rs += otlp.shop_trace(end_ns=now - 3_000_000_000, duration_ns=(100 + i) * 1_000_000,
                                  error=(i % 5 == 0))
        r = a.otlp_post(otlp.encode_request(rs))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "application/x-protobuf")
        self.assertEqual(r.body, b"")
        self.value(a, "p95", want=0.118)  # ceil(0.95*20) = 19th of 100..119 ms
        self.value(a, "io", want=0.8)
        self.value(a, "errors", want=0.2)  # 4 of 20
        self.value(a, "slow", want=0.45)  # 111..119 ms: 9 of 20
        # mean of 100..119 ms = 109.5 ms
        self.value(a, "avg", want=0.1095)
        # 20 spans / 120 s
        self.value(a, "rps", want=20 / 120)
        # the payment service's own server spans: io share 25/56
        self.value(a, "io", selector="service%3Dpayment", want=25 / 56)

    def test_json_and_gzip_are_accepted(self):
        a = self.start()
        rs = otlp.shop_trace(end_ns=otlp.now_ns() - 2_000_000_000, duration_ns=50_000_000)
        r = a.otlp_post(otlp.gzip(otlp.to_json(rs, enum_names=True)),
                        content_type="application/json; charset=utf-8",
                        headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {})
        self.value(a, "p95", want=0.05)

    def test_bad_requests_get_otlp_answers(self):
        a = self.start()
        r = a.otlp_post(b"{not json", content_type="application/json")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["code"], 3)
        r = a.otlp_post(b"\x0a\x05ab", content_type="application/x-protobuf")
        self.assertEqual(r.status, 400, r)
        st = otlp.decode_response(r.body, r.headers["content-type"])
        self.assertEqual(st["code"], 3)
        self.assertIn("runs past the end", st["message"])
        r = a.otlp_post(b"{}", content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        r = a.otlp_post(b"{}", content_type="application/json", headers={"Content-Encoding": "br"})
        self.assertEqual(r.status, 415, r)
        # a span with a zero trace id next to a good one: partial success
        good = otlp.shop_trace(end_ns=otlp.now_ns() - 2_000_000_000)
        good[0]["spans"][1]["trace_id"] = bytes(16)
        r = a.otlp_post(otlp.to_json(good), content_type="application/json")
        self.assertEqual(r.status, 200, r)
        ps = r.json()["partialSuccess"]
        self.assertEqual(ps["rejectedSpans"], "1")
        self.assertIn("trace id is all zero", ps["errorMessage"])

    def test_tracegen_feeds_the_store(self):
        a = self.start()
        tg = os.path.join(harness.BIN_DIR, "tracegen")
        p = subprocess.run([tg, "--endpoint", "http://127.0.0.1:%d/v1/traces" % a.otlp_port,
                            "--count", "40", "--rate", "400", "--batch", "10",
                            "--latency-ms", "100", "--distribution", "fixed",
                            "--error-ratio", "0", "--gzip", "--seed", "1"],
                           capture_output=True, timeout=60 * harness.SLOW)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn(b"4 ok, 0 failed", p.stderr)
        self.value(a, "p95", want=0.1)
        self.value(a, "io", want=0.8)
        self.value(a, "errors", want=0.0)


if __name__ == "__main__":
    unittest.main()
