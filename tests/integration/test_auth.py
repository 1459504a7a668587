"""test_auth.py — delegated authentication and authorization against a fake kube-apiserver.

The real binary runs with --kubeconfig pointing at tests/fakes/fake_kube.py (in this process);
the test PKI comes from tests/fakes/pki.py (the openssl command). Covered (spec §12, §13): no
credentials, front-proxy certificates (right CA, rogue CA, CN not allowed, expired, serverAuth
only), X-Remote-* headers without a certificate, client certificates, bearer tokens (valid and
invalid), allowed and denied reviews with the exact SubjectAccessReview sent and Kubernetes' 403
wording, system:masters, always-allowed paths, kube-apiserver down or failing, the ConfigMap
missing at start and its CA rotated, the adapter's own client-certificate credentials, and the
start-up error without any kube-apiserver configuration.
"""
import json
import os
import ssl
import tempfile
import time
import unittest

from tests.fakes.fake_kube import FakeKube
from tests.fakes.pki import make_pki, read
from tests.integration.harness import SLOW, Adapter, AdapterTest

METRIC = "http_server_requests_per_second"
METRIC_PATH = ("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/%s"
               "?labelSelector=service%%3Dcheckout" % METRIC)
DISCOVERY = "/apis/external.metrics.k8s.io/v1beta1"
ADAPTER_TOKEN = "adapter-sa-token"
HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"

_PKI_DIR = None
PKI = None


def setUpModule():
    global _PKI_DIR, PKI
    _PKI_DIR = tempfile.mkdtemp(prefix="ta-pki-")
    PKI = make_pki(_PKI_DIR)


def tearDownModule():
    import shutil
    shutil.rmtree(_PKI_DIR, ignore_errors=True)


def configmap(ca="front-proxy-ca", allowed='["front-proxy-client"]'):
    return {
        "client-ca-file": read(PKI["client-ca"]["crt"]),
        "requestheader-client-ca-file": read(PKI[ca]["crt"]),
        "requestheader-allowed-names": allowed,
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    }


def tls(cert=None):
    """A client context that presents PKI[cert] (None: no certificate)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(PKI[cert]["crt"], PKI[cert]["key"])
    return ctx


def start_fake(**state):
    st = {"auth_tokens": [ADAPTER_TOKEN], "configmap": configmap()}
    st.update(state)
    fake = FakeKube(PKI["apiserver"]["crt"], PKI["apiserver"]["key"], PKI["client-ca"]["crt"],
                    state=st)
    return fake.start()


class AuthTestBase(AdapterTest):
    def fake(self, **state):
        fk = start_fake(**state)
        self.addCleanup(fk.stop)
        return fk

    def auth_adapter(self, fk, env=None, kubeconfig=None, extra_args=()):
        path = kubeconfig or fk.write_kubeconfig(
            os.path.join(tempfile.mkdtemp(prefix="ta-kc-"), "kubeconfig"),
            PKI["cluster-ca"]["crt"], token=ADAPTER_TOKEN)
        return self.adapter(auth=True, args=["--kubeconfig", path, "-v", "4"] + list(extra_args),
                            env=env)

    def proxied(self, a, path=METRIC_PATH, cert="front-proxy-client", user=HPA, groups=(),
                extra=None):
        h = {"X-Remote-User": user} if user is not None else {}
        hdrs = list(h.items()) + [("X-Remote-Group", g) for g in groups]
        for k, v in (extra or {}).items():
            hdrs.append(("X-Remote-Extra-" + k, v))
        return self.request_headers(a, path, hdrs, cert)

    def request_headers(self, a, path, hdrs, cert=None):
        """GET with repeated header lines (http.client keeps them in order)."""
        import http.client
        conn = http.client.HTTPSConnection("127.0.0.1", a.port, context=tls(cert),
                                           timeout=30 * SLOW)
        try:
            conn.putrequest("GET", path)
            for k, v in hdrs:
                conn.putheader(k, v)
            conn.endheaders()
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()

        class R:
            pass
        resp = R()
        resp.status, resp.body = r.status, body
        resp.headers = {k.lower(): v for k, v in r.getheaders()}
        resp.json = lambda: json.loads(body)
        resp.__repr__ = lambda: "Response(%d, %r)" % (r.status, body[:300])
        return resp

    def reviews_for(self, fk, user):
        with fk.lock:
            return [r for r in fk.reviews if r["spec"].get("user") == user]

    def assert401(self, resp):
        st = self.assertStatus(resp, 401, "Unauthorized")
        self.assertEqual(st["message"], "Unauthorized")


class TestAuthMatrix(AuthTestBase):
    """One fake and one adapter for the read-only matrix; every test uses its own user names
    (reviews are cached 10 s per question)."""

    @classmethod
    def setUpClass(cls):
        setUpModuleOnce()
        cls.fk = start_fake(
            policy=[{"user": HPA, "allowed": True},
                    {"user": "token-user", "allowed": True},
                    {"user": "jane", "group": "dev", "allowed": True},
                    {"group": "system:authenticated", "path": DISCOVERY, "allowed": True},
                    {"user": "reasoned", "allowed": False, "reason": "blocked by policy"}],
            tokens={"good-token": {"username": "token-user", "uid": "u-7",
                                   "groups": ["team-a"], "extra": {"scope": ["x"]}}})
        path = cls.fk.write_kubeconfig(os.path.join(tempfile.mkdtemp(prefix="ta-kc-"), "kc"),
                                       PKI["cluster-ca"]["crt"], token=ADAPTER_TOKEN)
        cls.a = Adapter(auth=True, args=["--kubeconfig", path, "-v", "4"]).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.a.stop()
        finally:
            cls.fk.stop()

    def test_no_credentials_is_401(self):
        self.assert401(self.a.get(METRIC_PATH))
        self.assert401(self.a.get(DISCOVERY))

    def test_front_proxy_with_allowed_cn_sends_the_exact_review(self):
        r = self.proxied(self.a, groups=["system:serviceaccounts",
                                         "system:serviceaccounts:kube-system"],
                         extra={"Authentication.kubernetes.io%2fcredential-id": "JTI=abc"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["kind"], "ExternalMetricValueList")
        sent = self.reviews_for(self.fk, HPA)
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0], {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": "shop", "verb": "list", "group": "external.metrics.k8s.io",
                    "version": "v1beta1", "resource": METRIC,
                    "labelSelector": {"requirements": [
                        {"key": "service", "operator": "In", "values": ["checkout"]}]}},
                "user": HPA,
                "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                           "system:authenticated"],
                "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]}}})
        # A second identical request is answered from the authorization cache.
        r = self.proxied(self.a, groups=["system:serviceaccounts",
                                         "system:serviceaccounts:kube-system"],
                         extra={"Authentication.kubernetes.io%2fcredential-id": "JTI=abc"})
        self.assertEqual(r.status, 200)
        self.assertEqual(len(self.reviews_for(self.fk, HPA)), 1)

    def test_front_proxy_from_a_rogue_ca_is_401(self):
        self.assert401(self.proxied(self.a, cert="rogue-proxy", user="rogue-1"))
        self.assertEqual(self.reviews_for(self.fk, "rogue-1"), [])

    def test_front_proxy_with_a_cn_not_allowed_is_401(self):
        self.assert401(self.proxied(self.a, cert="front-proxy-other", user="other-1"))

    def test_expired_front_proxy_certificate_is_401(self):
        self.assert401(self.proxied(self.a, cert="front-proxy-expired", user="expired-1"))

    def test_front_proxy_certificate_without_client_auth_is_401(self):
        self.assert401(self.proxied(self.a, cert="front-proxy-server-only", user="eku-1"))

    def test_remote_headers_without_a_certificate_are_ignored(self):
        self.assert401(self.proxied(self.a, cert=None, user="system:admin",
                                    groups=["system:masters"]))
        self.assertEqual(self.reviews_for(self.fk, "system:admin"), [])

    def test_front_proxy_without_a_user_header_is_401(self):
        self.assert401(self.proxied(self.a, user=None, groups=["system:masters"]))

    def test_client_certificate_user_and_groups(self):
        r = self.request_headers(self.a, METRIC_PATH, [("X-Remote-User", "admin")],
                                 cert="user-jane")
        self.assertEqual(r.status, 200, r.body)
        sent = self.reviews_for(self.fk, "jane")
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["spec"]["groups"], ["dev", "ops", "system:authenticated"])
        cid = sent[0]["spec"]["extra"]["authentication.kubernetes.io/credential-id"]
        self.assertEqual(len(cid), 1)
        self.assertTrue(cid[0].startswith("X509SHA256="), cid)
        self.assertEqual(len(cid[0]), len("X509SHA256=") + 64)

    def test_valid_bearer_token(self):
        r = self.request_headers(self.a, METRIC_PATH, [("Authorization", "Bearer good-token")])
        self.assertEqual(r.status, 200, r.body)
        with self.fk.lock:
            trs = [t for t in self.fk.tokenreviews if t["spec"]["token"] == "good-token"]
        self.assertEqual(trs, [{"apiVersion": "authentication.k8s.io/v1",
                                "kind": "TokenReview", "spec": {"token": "good-token"}}])
        sent = self.reviews_for(self.fk, "token-user")
        self.assertEqual(sent[0]["spec"]["groups"], ["team-a", "system:authenticated"])
        self.assertEqual(sent[0]["spec"]["uid"], "u-7")
        self.assertEqual(sent[0]["spec"]["extra"], {"scope": ["x"]})

    def test_invalid_bearer_token_is_401(self):
        self.assert401(self.request_headers(self.a, METRIC_PATH,
                                            [("Authorization", "Bearer wrong-token")]))

    def test_denied_review_is_403_with_kubernetes_wording(self):
        r = self.proxied(self.a, user="bob")
        st = self.assertStatus(r, 403, "Forbidden")
        self.assertEqual(st["message"],
                         '%s.external.metrics.k8s.io is forbidden: User "bob" cannot list '
                         'resource "%s" in API group "external.metrics.k8s.io" in the '
                         'namespace "shop"' % (METRIC, METRIC))
        self.assertEqual(st["details"], {"group": "external.metrics.k8s.io", "kind": METRIC})

    def test_denied_non_resource_request_is_403(self):
        r = self.proxied(self.a, path="/openapi/v2", user="carol")
        st = self.assertStatus(r, 403, "Forbidden")
        self.assertEqual(st["message"], 'forbidden: User "carol" cannot get path "/openapi/v2"')
        sent = self.reviews_for(self.fk, "carol")
        self.assertEqual(sent[0]["spec"], {
            "nonResourceAttributes": {"path": "/openapi/v2", "verb": "get"},
            "user": "carol", "groups": ["system:authenticated"]})

    def test_discovery_for_a_user_without_groups_relies_on_system_authenticated(self):
        r = self.proxied(self.a, path=DISCOVERY, user="system:aggregator")
        self.assertEqual(r.status, 200, r.body)
        sent = self.reviews_for(self.fk, "system:aggregator")
        self.assertEqual(sent[0]["spec"]["groups"], ["system:authenticated"])

    def test_system_masters_skip_the_review(self):
        r = self.proxied(self.a, path=DISCOVERY, user="system:kube-aggregator",
                         groups=["system:masters"])
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.reviews_for(self.fk, "system:kube-aggregator"), [])

    def test_always_allowed_paths_need_no_credentials(self):
        for p in ("/healthz", "/livez", "/readyz"):
            r = self.a.get(p)
            self.assertEqual(r.status, 200, (p, r))
            self.assertEqual(r.body, b"ok")


class TestAuthFailures(AuthTestBase):
    def test_kube_apiserver_down_never_allows(self):
        fk = self.fake(policy=[{"allowed": True}],
                       tokens={"t": {"username": "token-user"}})
        a = self.auth_adapter(fk)
        r = self.proxied(a, user="warmup")
        self.assertEqual(r.status, 200, r.body)
        fk.update(fault="down")
        self.assertStatus(self.proxied(a, user="new-user"), 403, "Forbidden")
        self.assert401(self.request_headers(a, METRIC_PATH, [("Authorization", "Bearer t")]))
        fk.update(fault=None)
        self.assertEqual(self.proxied(a, user="new-user-2").status, 200)

    def test_failing_reviews_are_403(self):
        fk = self.fake(policy=[{"allowed": True}], fault="500",
                       fault_path="subjectaccessreviews")
        a = self.auth_adapter(fk)
        self.assertStatus(self.proxied(a, user="x"), 403, "Forbidden")
        with fk.lock:
            n = len([q for q in fk.requests if "subjectaccessreviews" in q["path"]])
        self.assertEqual(n, 5, "Go's back-off: five attempts")

    def test_starts_without_the_configmap_and_picks_it_up(self):
        fk = self.fake(policy=[{"allowed": True}], configmap=None)
        a = self.auth_adapter(fk, env={"TA_AUTH_REFRESH_MS": "300"})
        self.assertEqual(a.get("/healthz").status, 200)
        self.assert401(self.proxied(a, user="early"))
        fk.update(configmap=configmap())
        a.wait_until(lambda: self.proxied(a, user="later").status == 200, 20 * SLOW,
                     "ConfigMap picked up")

    def test_configmap_ca_rotation_is_picked_up(self):
        fk = self.fake(policy=[{"allowed": True}])
        a = self.auth_adapter(fk, env={"TA_AUTH_REFRESH_MS": "300"})
        self.assertEqual(self.proxied(a, user="u1").status, 200)
        self.assert401(self.proxied(a, cert="front-proxy-client-2", user="u2"))
        fk.update(configmap=configmap(ca="front-proxy-ca-2"))
        a.wait_until(lambda: self.proxied(a, cert="front-proxy-client-2",
                                          user="u3").status == 200,
                     20 * SLOW, "rotated CA picked up")
        self.assert401(self.proxied(a, user="u4"))
        self.assertIn("authentication configuration changed", a.logs())

    def test_adapter_credentials_by_client_certificate(self):
        fk = self.fake(policy=[{"allowed": True}], auth_tokens=[],
                       client_cns=["tempo-adapter"])
        path = fk.write_kubeconfig(os.path.join(tempfile.mkdtemp(prefix="ta-kc-"), "kc"),
                                   PKI["cluster-ca"]["crt"], cert=PKI["adapter-client"]["crt"],
                                   key=PKI["adapter-client"]["key"], inline=True)
        a = self.auth_adapter(fk, kubeconfig=path)
        self.assertEqual(self.proxied(a, user="u").status, 200)
        with fk.lock:
            auths = {q["auth"] for q in fk.requests}
        self.assertEqual(auths, {"cert:tempo-adapter"})

    def test_wrong_adapter_token_denies(self):
        fk = self.fake(policy=[{"allowed": True}], auth_tokens=["something-else"])
        a = self.auth_adapter(fk)
        self.assert401(self.proxied(a, user="u"))
        self.assertIn("kube-apiserver answered 401", a.logs())

    def test_refuses_to_start_without_kube_apiserver_configuration(self):
        env = {k: "" for k in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
        a = Adapter(auth=True, env=env, wait_ready=False).start()
        deadline = time.monotonic() + 15 * SLOW
        while a.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIsNotNone(a.proc.returncode, "the adapter kept running")
        self.assertNotEqual(a.proc.returncode, 0)
        log = a.stop(expect_code=None)
        self.assertIn("pass --kubeconfig outside a cluster, or --insecure-disable-auth", log)


def setUpModuleOnce():
    if PKI is None:
        setUpModule()


if __name__ == "__main__":
    unittest.main()
