"""test_otlp_hostile.py — hostile OTLP/HTTP input gets the right status and changes nothing else.

Truncated protobuf, wrong JSON types, length fields far past the body, deep nesting, a 10 MiB
body of garbage, a body over the 16 MiB limit, and a zip bomb; after each the receiver and the
API still answer, and the spans sent before are still counted.
"""
import gzip
import http.client
import json
import zlib

from tests.integration import harness, otlp

RULES = """
defaults: {window: 2m, refresh: 1s, minSamples: 1}
externalRules:
  - name: rps
    spans: '{ kind = server }'
    metric: rate
    onEmpty: zero
"""
MIB = 1 << 20


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


class HostileOtlpTest(harness.AdapterTest):
    @classmethod
    def setUpClass(cls):
        cls.a = harness.Adapter(rules=RULES, args=["--query-delay", "0s"]).start()
        cls.addClassCleanup(cls.a.kill)  # runs even if the rest of setUpClass fails
        good = otlp.shop_trace(end_ns=otlp.now_ns() - 3_000_000_000)
        r = cls.a.otlp_post(otlp.encode_request(good))
        assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()

    def still_fine(self):
        self.assertEqual(self.a.get("/healthz").status, 200)
        r = self.a.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/rps")
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json()["items"][0]["value"], "0", "the good spans are still there")

    def post(self, body, ctype="application/x-protobuf", encoding=None):
        return self.a.otlp_post(body, ctype, headers={"Content-Encoding": encoding} if encoding else None,
                                timeout=60)

    def test_truncated_protobuf_is_400(self):
        body = otlp.encode_request(otlp.shop_trace())
        for cut in (1, 7, len(body) // 2, len(body) - 1):
            r = self.post(body[:cut])
            self.assertEqual(r.status, 400, (cut, r))
            self.assertEqual(otlp.decode_response(r.body, r.headers["content-type"])["code"], 3)
        self.still_fine()

    def test_huge_length_fields_are_400(self):
        for length in (1 << 31, (1 << 62), 10 * MIB):
            body = b"\x0a" + varint(length) + b"\x00" * 16  # resource_spans claiming `length` bytes
            r = self.post(body)
            self.assertEqual(r.status, 400, r)
        r = self.post(b"\x0a" + b"\xff" * 11)  # an 11-byte varint
        self.assertEqual(r.status, 400, r)
        self.still_fine()

    def test_wrong_json_types_are_400(self):
        for doc in ({"resourceSpans": {}}, {"resourceSpans": [{"scopeSpans": "x"}]},
                    {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]},
                    {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": [1]}]}]}]},
                    [], "x", 1):
            r = self.post(json.dumps(doc).encode(), "application/json")
            self.assertEqual(r.status, 400, (doc, r))
        deep = b'{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":' + \
            b'{"arrayValue":{"values":[' * 5000 + b']}}' * 5000 + b'}]}}]}'
        r = self.post(deep, "application/json")
        self.assertEqual(r.status, 400, r)
        self.still_fine()

    def test_ten_mib_of_garbage_is_400_and_over_the_limit_is_413(self):
        r = self.post(b"\xff" * (10 * MIB))
        self.assertEqual(r.status, 400, r)
        try:
            r = self.post(b"\x00" * (17 * MIB))
            self.assertEqual(r.status, 413, r)
        except (ConnectionError, http.client.HTTPException):
            pass  # the receiver may answer 413 and close before reading 17 MiB
        self.still_fine()

    def test_zip_bomb_stops_at_the_limit(self):
        # 1 GiB of zeros compresses to about 1 MiB; inflating must stop at 16 MiB
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunk = b"\x00" * MIB
        bomb = b"".join(comp.compress(chunk) for _ in range(1024)) + comp.flush()
        self.assertLess(len(bomb), 2 * MIB)
        r = self.post(bomb, encoding="gzip")
        self.assertEqual(r.status, 413, r)
        r = self.post(gzip.compress(b"not protobuf at all"), encoding="gzip")
        self.assertEqual(r.status, 400, r)
        r = self.post(b"\x1f\x8b\x08\x00garbage", encoding="gzip")
        self.assertEqual(r.status, 400, r)
        self.still_fine()
