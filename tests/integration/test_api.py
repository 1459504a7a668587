"""test_api.py — every path of the spec's path table against the real binary.

Spec: ../shared/spec/kubernetes-external-metrics.md §3–§6, §10, §17. Expected bodies are the Go
servers' bytes quoted in the spec, not the adapter's own output.
"""
import hashlib
import json
import os
import unittest

from tests.integration.harness import ROOT, AdapterTest

GV = "/apis/external.metrics.k8s.io/v1beta1"
RULES = """
labels:
  service: resource.service.name
  route: span.http.route
externalRules:
  - name: latency_p95
    spans: '{ kind = server }'
    metric: quantile
    quantile: 0.95
  - name: rps
    spans: '{ kind = server }'
    metric: rate
    onEmpty: zero
"""


class DiscoveryTest(AdapterTest):
    @classmethod
    def setUpClass(cls):
        from tests.integration.harness import Adapter
        cls.a = Adapter(rules=RULES).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()

    def test_apis_is_the_legacy_group_list_whatever_the_accept(self):
        want = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "external.metrics.k8s.io",
             "versions": [{"groupVersion": "external.metrics.k8s.io/v1beta1", "version": "v1beta1"}],
             "preferredVersion": {"groupVersion": "external.metrics.k8s.io/v1beta1",
                                  "version": "v1beta1"}}]}
        for accept in (None, "application/json",
                       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"):
            r = self.a.get("/apis", headers={"Accept": accept} if accept else {})
            self.assertEqual(r.status, 200, r)  # never 503 (§4.2)
            self.assertEqual(r.headers["content-type"], "application/json")
            self.assertEqual(r.json(), want)

    def test_group_document(self):
        for path in ("/apis/external.metrics.k8s.io", "/apis/external.metrics.k8s.io/"):
            r = self.a.get(path)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b'{"kind":"APIGroup","apiVersion":"v1","name":"external.metrics.k8s.io",'
                                     b'"versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],'
                                     b'"preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}}')

    def test_resource_list_has_one_entry_per_rule_with_go_key_order(self):
        for path in (GV, GV + "/"):
            r = self.a.get(path)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["content-type"], "application/json")
            self.assertEqual(
                r.body,
                b'{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1",'
                b'"resources":[{"name":"latency_p95","singularName":"","namespaced":true,'
                b'"kind":"ExternalMetricValueList","verbs":["get"]},'
                b'{"name":"rps","singularName":"","namespaced":true,'
                b'"kind":"ExternalMetricValueList","verbs":["get"]}]}')

    def test_health_endpoints(self):
        for path in ("/healthz", "/livez", "/readyz"):
            r = self.a.get(path)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["content-type"], "text/plain; charset=utf-8")
            self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
            self.assertEqual(r.body, b"ok")
        r = self.a.get("/readyz?verbose")
        self.assertEqual(r.status, 200)
        self.assertIn(b"[+]rules ok\n", r.body)
        self.assertTrue(r.body.endswith(b"readyz check passed\n"))
        self.assertEqual(self.a.get("/healthz/ping").body, b"ok")
        self.assertEqual(self.a.get("/healthz/nosuchcheck").status, 404)

    def test_metric_path_errors_are_go_status_bodies(self):
        st = self.assertStatus(self.a.get(GV + "/namespaces/default/queue_depth"), 404, "NotFound")
        self.assertEqual(st["message"], "the server could not find the metric queue_depth for namespaces")
        for path in (GV + "/latency_p95", GV + "/namespaces/shop", GV + "/namespaces/shop/a/b",
                     "/apis/other.group/v1", "/nothing"):
            r = self.a.get(path)
            self.assertEqual(r.body, b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                                     b'"message":"the server could not find the requested resource",'
                                     b'"reason":"NotFound","details":{},"code":404}', path)
            self.assertEqual(r.status, 404)

    def test_bad_selector_is_400_in_kubernetes_wording(self):
        st = self.assertStatus(self.a.get(GV + "/namespaces/shop/latency_p95?labelSelector=foo+in+bar"),
                               400, "BadRequest")
        self.assertEqual(st["message"], "unable to parse requirement: found 'bar' expected: '('")
        st = self.assertStatus(self.a.get(GV + "/namespaces/shop/latency_p95?labelSelector=a%3E1"),
                               400, "BadRequest")
        self.assertIn(">", st["message"])
        # percent-encoded invalid UTF-8 in a value, and an invalid escape
        self.assertStatus(self.a.get(GV + "/namespaces/shop/latency_p95?labelSelector=service%3D%FF%FE"), 400)
        self.assertStatus(self.a.get(GV + "/namespaces/shop/latency_p95?labelSelector=%zz"), 400)

    def test_unmapped_label_is_a_clear_400(self):
        st = self.assertStatus(self.a.get(GV + "/namespaces/shop/rps?labelSelector=team%3Dx"), 400)
        self.assertIn("team", st["message"])
        self.assertIn("service", st["message"])

    def test_invalid_namespace_is_400(self):
        st = self.assertStatus(self.a.get(GV + "/namespaces/Shop_1/rps"), 400)
        self.assertIn("Shop_1", st["message"])

    def test_watch_and_other_verbs_are_405(self):
        r = self.a.get(GV + "/namespaces/shop/rps?watch=true")
        self.assertEqual(r.body, b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                                 b'"message":"watch is not supported on resources of kind \\"*.external.metrics.k8s.io\\"",'
                                 b'"reason":"MethodNotAllowed","details":{"group":"external.metrics.k8s.io","kind":"*"},'
                                 b'"code":405}')
        self.assertEqual(r.status, 405)
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            r = self.a.request(method, GV + "/namespaces/shop/rps", body=b"{}",
                               headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 405, method)
            self.assertEqual(r.json()["message"], "the server does not allow this method on the requested resource")

    def test_json_whatever_the_accept_header(self):
        r = self.a.get(GV + "/namespaces/shop/rps",
                       headers={"Accept": "application/vnd.kubernetes.protobuf, */*"})
        self.assertTrue(r.headers["content-type"].startswith("application/json"), r.headers)
        json.loads(r.body)

    def test_empty_rate_with_onempty_zero_is_a_value_list(self):
        r = self.a.get(GV + "/namespaces/shop/rps?labelSelector=service%3Dcheckout")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(doc["kind"], "ExternalMetricValueList")
        self.assertEqual(doc["apiVersion"], "external.metrics.k8s.io/v1beta1")
        self.assertEqual(doc["metadata"], {})
        self.assertEqual(len(doc["items"]), 1)
        item = doc["items"][0]
        self.assertEqual(item["metricName"], "rps")
        self.assertEqual(item["metricLabels"], {"service": "checkout"})
        self.assertEqual(item["value"], "0")
        self.assertEqual(item["window"], 120)
        self.assertRegex(item["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_empty_quantile_is_503_naming_the_rule(self):
        st = self.assertStatus(self.a.get(GV + "/namespaces/shop/latency_p95"), 503, "ServiceUnavailable")
        self.assertIn("latency_p95", st["message"])
        self.assertIn("no matching spans", st["message"])

    def test_openapi_v2_etag_and_304(self):
        r = self.a.get("/openapi/v2")
        self.assertEqual(r.status, 200)
        etag = r.headers["etag"]
        self.assertEqual(etag, '"%s"' % hashlib.sha512(r.body).hexdigest().upper())
        doc = r.json()
        self.assertEqual(doc["swagger"], "2.0")
        self.assertIn("io.k8s.metrics.pkg.apis.external_metrics.v1beta1.ExternalMetricValueList",
                      doc["definitions"])
        with open(os.path.join(ROOT, "go-compatible-openapi", "v2.json"), "rb") as f:
            self.assertEqual(r.body, f.read(), "served bytes are the file compiled in")
        r2 = self.a.get("/openapi/v2", headers={"If-None-Match": etag})
        self.assertEqual(r2.status, 304)
        self.assertEqual(r2.body, b"")

    def test_openapi_v3_root_and_hash_protocol(self):
        r = self.a.get("/openapi/v3")
        self.assertEqual(r.status, 200)
        paths = r.json()["paths"]
        self.assertEqual(list(paths), ["apis/external.metrics.k8s.io/v1beta1"])
        url = paths["apis/external.metrics.k8s.io/v1beta1"]["serverRelativeURL"]
        g = self.a.get(url)
        self.assertEqual(g.status, 200)
        with open(os.path.join(ROOT, "go-compatible-openapi",
                               "v3-apis-external.metrics.k8s.io-v1beta1.json"), "rb") as f:
            self.assertEqual(g.body, f.read())
        json.loads(g.body)
        self.assertEqual(url.split("hash=")[1], hashlib.sha512(g.body).hexdigest().upper())
        self.assertEqual(g.headers.get("cache-control"), "public, immutable")
        moved = self.a.get("/openapi/v3/apis/external.metrics.k8s.io/v1beta1?hash=OLD")
        self.assertEqual(moved.status, 301)
        self.assertEqual(moved.headers["location"], url)

    def test_self_metrics(self):
        r = self.a.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn(b"# TYPE tempo_adapter_http_requests_total counter", r.body)
        self.assertIn(b'tempo_adapter_rule_evaluations_total{rule="rps"}', r.body)


class AuthGateTest(AdapterTest):
    def test_without_insecure_flag_nothing_is_served_open(self):
        # No kube-apiserver is reachable from here: the adapter either refuses to start with a
        # clear reason or starts and answers 401; it never serves the metric path openly.
        from tests.integration.harness import Adapter
        a = Adapter(rules=RULES, auth=True, wait_ready=False,
                    env={"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""})
        a.start()
        try:
            def settled():
                if a.proc.poll() is not None:
                    return True
                try:
                    return a.try_get("/healthz") is not None
                except AssertionError:  # exited between the two checks
                    return True
            a.wait_until(settled, 20, "adapter start")
            if a.proc.poll() is not None:
                self.assertNotEqual(a.proc.returncode, 0)
                self.assertIn("authentication", a.logs())
                a.stop(expect_code=None)
                return
            self.assertEqual(a.get("/healthz").status, 200)  # always-allowed path
            self.assertStatus(a.get(GV + "/namespaces/shop/rps"), 401, "Unauthorized")
            self.assertStatus(a.get(GV), 401, "Unauthorized")
        finally:
            if a.proc is not None:
                a.stop(expect_code=None)


if __name__ == "__main__":
    unittest.main()
