"""test_deploy.py — the adapter as installed by manifests/, driven as kube-apiserver drives it.

AggregatorPath: the real binary runs with the Deployment's own arguments, taken from
`kubectl kustomize manifests/` ($(VAR)s expanded from the rendered ConfigMaps; mounted paths
replaced by temporary files with the ConfigMaps' content; the port, the OTLP address and
--bind-address made local; --kubeconfig pointing at tests/fakes/fake_kube.py). A small TLS proxy
plays kube-aggregator: it authenticates its callers by bearer token, drops Authorization, presents
the front-proxy client certificate, sends X-Remote-User/X-Remote-Group, and verifies the
adapter's certificate with the APIService's caBundle for <service>.<namespace>.svc (as
insecureSkipTLSVerify would, when there is no caBundle). Checked: the availability check
(system:kube-aggregator in system:masters), an HPA metric read (SubjectAccessReview allowed by
the fake), a denied user's 403, and the 401 without the proxy's certificate.

ManagedServingCert: --manage-serving-cert against the fake with the Secret and APIService
endpoints of tests/fakes/fake_kube_certs.py: first start fills the shipped empty Secret (or
creates a missing one; fails clearly when it may not), a second replica reuses it, a certificate
expiring within 30 days is renewed under the same CA, a 409 makes the adapter use the other
replica's certificate, a Secret rotated by another replica is picked up, caBundle is written and
verifies the served chain, and an APIService of another adapter is left alone. These tests skip
when the binary does not act on --manage-serving-cert (main must call servingcert_start).

CertManagerFiles: the cert-manager overlay's Deployment args with its Secret's files; the
certificate verifies with the CA cainjector would write, and a renewal on disk is served without a
restart (skipped when main does not call servingcert_watch_files).
"""
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from tests.fakes import fake_kube_certs as certs
from tests.fakes.fake_kube import FakeKube
from tests.fakes.pki import make_pki, read
from tests.integration.harness import SLOW, Adapter
from tests.integration.test_manifests import (CERT_MANAGER, MANIFESTS, NAMES4, binary,
                                              container, container_env, expand, find, kubectls,
                                              render)

NS = "tempo-adapter"
SVC_DNS = "tempo-adapter.tempo-adapter.svc"
SECRET = "tempo-adapter-serving-cert"
APISVC = "v1beta1.external.metrics.k8s.io"
HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
HPA_GROUPS = ["system:serviceaccounts", "system:serviceaccounts:kube-system",
              "system:authenticated"]
ADAPTER_TOKEN = "adapter-sa-token"
METRIC = "http_server_requests_per_second"
DISCOVERY = "/apis/external.metrics.k8s.io/v1beta1"
METRIC_PATH = ("/apis/external.metrics.k8s.io/v1beta1/namespaces/shop/%s"
               "?labelSelector=service%%3Dcheckout" % METRIC)
# Callers of the proxy (kube-apiserver's own authentication, reduced to a token table).
USERS = {
    "aggregator-token": ("system:kube-aggregator", ["system:masters"]),
    "hpa-token": (HPA, HPA_GROUPS),
    "jane-token": ("jane", ["system:authenticated"]),
}
NOT_WIRED = ("this tempo-adapter binary does not act on --manage-serving-cert yet "
             "(server/main.c must call servingcert_start)")

_PKI_DIR = None
PKI = None


def setUpModule():
    global _PKI_DIR, PKI
    _PKI_DIR = tempfile.mkdtemp(prefix="ta-deploy-pki-")
    PKI = make_pki(_PKI_DIR)


def tearDownModule():
    shutil.rmtree(_PKI_DIR, ignore_errors=True)


def auth_configmap():
    return {
        "client-ca-file": read(PKI["client-ca"]["crt"]),
        "requestheader-client-ca-file": read(PKI["front-proxy-ca"]["crt"]),
        "requestheader-allowed-names": '["front-proxy-client"]',
        "requestheader-username-headers": '["X-Remote-User"]',
        "requestheader-group-headers": '["X-Remote-Group"]',
        "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
    }


def start_fake(objs=(), **state):
    """A fake kube-apiserver with the certificate endpoints and the given objects stored."""
    st = {"auth_tokens": [ADAPTER_TOKEN], "configmap": auth_configmap()}
    st.update(state)
    fake = FakeKube(PKI["apiserver"]["crt"], PKI["apiserver"]["key"], PKI["client-ca"]["crt"],
                    state=st)
    certs.install(fake)
    for o in objs:
        resource = {"Secret": "secrets", "APIService": "apiservices"}[o["kind"]]
        certs.put_object(fake, resource, o["metadata"].get("namespace", ""),
                         o["metadata"]["name"], o)
    return fake.start()


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


def der(pem):
    return ssl.PEM_cert_to_DER_cert(pem_blocks(pem)[0])


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


def secret_data(fake):
    obj = certs.get_object(fake, "secrets", NS, SECRET)
    return {k: unb64(v) for k, v in ((obj or {}).get("data") or {}).items()}


def ca_bundle(fake):
    obj = certs.get_object(fake, "apiservices", "", APISVC)
    cab = ((obj or {}).get("spec") or {}).get("caBundle")
    return unb64(cab) if cab else None


def served_leaf(port):
    """DER of the certificate the adapter serves (no verification)."""
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))


def verified_handshake(port, ca_pem, name):
    """TLS handshake as the aggregator does it: trust only ca_pem, check the name."""
    ctx = ssl.create_default_context(cadata=ca_pem)
    with socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return t.getpeercert(binary_form=True)


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out: " + what)


# -- test certificates with the openssl command ------------------------------------------------

def _openssl(d, *args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_ca(d, name, days=3650):
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             name + ".key")
    _openssl(d, "req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=" + name, "-days",
             str(days), "-out", name + ".crt", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return read(os.path.join(d, name + ".crt")), read(os.path.join(d, name + ".key"))


def make_leaf(d, name, ca, days, names=NAMES4):
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             name + ".key")
    _openssl(d, "req", "-new", "-key", name + ".key", "-subj", "/CN=" + names[0], "-out",
             name + ".csr")
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
                % ",".join("DNS:" + n for n in names))
    _openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", str(days), "-extfile", name + ".ext", "-out",
             name + ".crt")
    return read(os.path.join(d, name + ".crt")), read(os.path.join(d, name + ".key"))


def valid_for(pem, seconds):
    """True when the certificate does not expire within seconds (openssl -checkend)."""
    r = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(seconds)],
                       input=pem.encode(), stdout=subprocess.DEVNULL)
    return r.returncode == 0


def secret_object(ca_crt, ca_key, tls_crt, tls_key):
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET, "namespace": NS},
            "data": {"ca.crt": b64(ca_crt), "ca.key": b64(ca_key), "tls.crt": b64(tls_crt),
                     "tls.key": b64(tls_key)}}


# -- the adapter with the Deployment's arguments -----------------------------------------------

def write_atomic(path, text):
    """Replaces a file the way the kubelet swaps a mounted Secret: a new inode, atomically."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.rename(path + ".new", path)


def materialize(objs, root, secrets=None):
    """Writes what the kubelet would mount (ConfigMap keys as files, the Secrets given as
    {name: {key: text}}, empty dirs) under root; returns {mountPath: local directory}."""
    spec = find(objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    out = {}
    for m in container(objs).get("volumeMounts", []):
        local = os.path.join(root, m["mountPath"].lstrip("/"))
        os.makedirs(local, exist_ok=True)
        v = volumes[m["name"]]
        if "configMap" in v:
            cm = [o for o in objs if o["kind"] == "ConfigMap" and
                  o["metadata"]["name"] == v["configMap"]["name"]][0]
            for key, text in cm["data"].items():
                with open(os.path.join(local, key), "w") as f:
                    f.write(text)
        elif "secret" in v:
            data = (secrets or {}).get(v["secret"]["secretName"])
            assert data is not None or v["secret"].get("optional"), \
                "secret volume %s: give its content" % m["name"]
            for key, text in (data or {}).items():
                write_atomic(os.path.join(local, key), text)
        else:
            assert "emptyDir" in v, v
        out[m["mountPath"]] = local
    return out


class DeploymentAdapter(Adapter):
    """The binary with the rendered Deployment's args (see the module comment)."""

    LOCAL = ("--secure-port", "--otlp-bind-address")  # replaced by local ports

    def __init__(self, objs, kubeconfig, env=None, secrets=None):
        super().__init__(auth=True, env=env, ready_path="/readyz")
        self.objs = objs
        self.kubeconfig = kubeconfig
        self.secrets = secrets
        self.replaced = {}
        self.mounts = {}

    def command(self):
        env = container_env(self.objs)
        mounts = self.mounts = materialize(self.objs, os.path.join(self.tmp, "pod"), self.secrets)
        args = []
        for a in container(self.objs)["args"]:
            a = expand(a, env)
            name, _, value = a.partition("=")
            if name == "--secure-port":
                a = "--secure-port=%d" % self.port
            elif name == "--otlp-bind-address":
                a = "--otlp-bind-address=127.0.0.1:%d" % self.otlp_port
            else:
                for mp, local in mounts.items():
                    if value == mp or value.startswith(mp + "/"):
                        a = name + "=" + local + value[len(mp):]
            if a != expand(a, env):
                raise AssertionError("undefined variable in " + a)
            self.replaced[name] = a
            args.append(a)
        return [binary()] + args + ["--bind-address=127.0.0.1", "--kubeconfig=" + self.kubeconfig]


# -- kube-aggregator's proxy -------------------------------------------------------------------

class _BackendConn(http.client.HTTPSConnection):
    """Dials 127.0.0.1 but verifies the certificate for sni (the Service's DNS name)."""

    def __init__(self, port, context, sni, timeout):
        super().__init__("127.0.0.1", port, context=context, timeout=timeout)
        self.sni = sni

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


class _ProxyServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class AggregatorProxy:
    """What kube-apiserver does for /apis/external.metrics.k8s.io/v1beta1/…: authenticate the
    caller, strip its credentials, and forward with the front-proxy certificate and X-Remote-*
    headers to the Service's backend, trusting the APIService's caBundle."""

    def __init__(self, fake, backend_port, client="front-proxy-client"):
        self.fake = fake
        self.backend_port = backend_port
        self.client = client
        self.verified = []  # per forwarded request: True = caBundle, False = insecure
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.forward(self)

        self.server = _ProxyServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(PKI["apiserver"]["crt"], PKI["apiserver"]["key"])
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def backend_context(self):
        cab = ca_bundle(self.fake)
        if cab:
            ctx = ssl.create_default_context(cadata=cab)
        else:  # what insecureSkipTLSVerify would do
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client:
            ctx.load_cert_chain(PKI[self.client]["crt"], PKI[self.client]["key"])
        return ctx, bool(cab)

    def forward(self, h):
        tok = h.headers.get("Authorization", "")[len("Bearer "):]
        if tok not in USERS:
            body = b"Unauthorized"
            h.send_response(401)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        user, groups = USERS[tok]
        ctx, verified = self.backend_context()
        self.verified.append(verified)
        conn = _BackendConn(self.backend_port, ctx, SVC_DNS, 10 * SLOW)
        try:
            conn.putrequest("GET", h.path, skip_accept_encoding=True)
            conn.putheader("Accept", h.headers.get("Accept", "*/*"))
            conn.putheader("User-Agent", h.headers.get("User-Agent", "kube-aggregator-test"))
            conn.putheader("X-Remote-User", user)
            for g in groups:  # one header per group, as the aggregator sends them
                conn.putheader("X-Remote-Group", g)
            conn.endheaders()
            r = conn.getresponse()
            body = r.read()
            status, ctype = r.status, r.getheader("Content-Type", "")
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            status, ctype, body = 503, "text/plain", ("service unavailable: %s" % e).encode()
        finally:
            conn.close()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def get(self, path, token, accept=None):
        ctx = ssl.create_default_context(cafile=PKI["cluster-ca"]["crt"])
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx,
                                           timeout=15 * SLOW)
        try:
            hdrs = {"Authorization": "Bearer " + token}
            if accept:
                hdrs["Accept"] = accept
            conn.request("GET", path, headers=hdrs)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type", ""), r.read()
        finally:
            conn.close()


class AggregatorPath(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = render(MANIFESTS)
        cls.tmp = tempfile.mkdtemp(prefix="ta-deploy-")
        shipped = [find(cls.objs, "Secret", SECRET, NS), find(cls.objs, "APIService", APISVC)]
        policy = [{"user": HPA, "verb": "list", "resource": METRIC, "namespace": "shop",
                   "allowed": True}]
        cls.fake = start_fake(shipped, policy=policy)
        kubeconfig = cls.fake.write_kubeconfig(os.path.join(cls.tmp, "kubeconfig"),
                                               PKI["cluster-ca"]["crt"], token=ADAPTER_TOKEN)
        cls.adapter = DeploymentAdapter(cls.objs, kubeconfig)
        try:
            cls.adapter.start()
        except Exception:
            cls.fake.stop()
            raise
        cls.proxy = AggregatorProxy(cls.fake, cls.adapter.port)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        try:
            cls.adapter.stop()
        finally:
            cls.fake.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def sars_for(self, pred):
        with self.fake.lock:
            return [r for r in self.fake.reviews if pred(r["spec"])]

    def test_adapter_runs_with_the_deployments_arguments(self):
        rendered = [a.split("=", 1)[0] for a in container(self.objs)["args"]]
        used = [a.split("=", 1)[0] for a in self.adapter.command()[1:]]
        self.assertEqual(used, rendered + ["--bind-address", "--kubeconfig"])
        for a in self.adapter.command()[1:]:
            self.assertNotRegex(a, r"=/(etc|var)/", "in-cluster path left in " + a)
        self.assertIn("loaded 5 rules from %s" % self.adapter.replaced["--config"].split("=", 1)[1],
                      self.adapter.logs())

    def test_availability_check_as_kube_aggregator(self):
        status, ctype, body = self.proxy.get(DISCOVERY, "aggregator-token")
        self.assertEqual(status, 200, body)
        self.assertTrue(ctype.startswith("application/json"), ctype)
        doc = json.loads(body)
        self.assertEqual(doc["kind"], "APIResourceList")
        self.assertEqual(doc["groupVersion"], "external.metrics.k8s.io/v1beta1")
        self.assertTrue(doc["resources"])
        # system:masters needs no SubjectAccessReview (spec §13.1)
        self.assertEqual(self.sars_for(lambda s: s.get("user") == "system:kube-aggregator"), [])

    def test_hpa_reads_a_metric(self):
        status, ctype, body = self.proxy.get(METRIC_PATH, "hpa-token",
                                             accept="application/vnd.kubernetes.protobuf, */*")
        self.assertEqual(status, 200, body)
        self.assertTrue(ctype.startswith("application/json"), ctype)
        doc = json.loads(body)
        self.assertEqual(doc["kind"], "ExternalMetricValueList")
        self.assertEqual(len(doc["items"]), 1)
        item = doc["items"][0]
        self.assertEqual(item["metricName"], METRIC)
        self.assertEqual(item["metricLabels"], {"service": "checkout"})
        self.assertEqual(item["value"], "0")  # no spans yet; the rule says onEmpty: zero
        sars = self.sars_for(lambda s: s.get("user") == HPA)
        self.assertTrue(sars)
        self.assertEqual(sars[-1]["spec"]["groups"], HPA_GROUPS)
        ra = sars[-1]["spec"]["resourceAttributes"]
        self.assertEqual((ra["verb"], ra["group"], ra["version"], ra["resource"],
                          ra["namespace"]),
                         ("list", "external.metrics.k8s.io", "v1beta1", METRIC, "shop"))

    def test_user_without_rbac_is_forbidden(self):
        status, _, body = self.proxy.get(METRIC_PATH, "jane-token")
        self.assertEqual(status, 403, body)
        st = json.loads(body)
        self.assertEqual(st["reason"], "Forbidden")
        self.assertEqual(st["message"],
                         '%s.external.metrics.k8s.io is forbidden: User "jane" cannot list '
                         'resource "%s" in API group "external.metrics.k8s.io" in the namespace '
                         '"shop"' % (METRIC, METRIC))

    def test_without_the_front_proxy_certificate_the_request_is_401(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", self.adapter.port, context=ctx,
                                           timeout=10 * SLOW)
        try:
            conn.putrequest("GET", METRIC_PATH)
            conn.putheader("X-Remote-User", HPA)
            for g in HPA_GROUPS:
                conn.putheader("X-Remote-Group", g)
            conn.endheaders()
            r = conn.getresponse()
            body = r.read()
        finally:
            conn.close()
        self.assertEqual(r.status, 401, body)
        st = json.loads(body)
        self.assertEqual((st["kind"], st["reason"], st["code"]), ("Status", "Unauthorized", 401))

    def test_a_foreign_client_certificate_is_401_too(self):
        proxy = AggregatorProxy(self.fake, self.adapter.port, client="rogue-proxy")
        try:
            status, _, body = proxy.get(DISCOVERY, "aggregator-token")
        finally:
            proxy.stop()
        self.assertEqual(status, 401, body)

    def test_kubectl_get_raw_through_the_aggregator(self):
        ks = kubectls()
        if not ks:
            self.skipTest("no kubectl on PATH")
        r = subprocess.run([ks[0], "--server", "https://127.0.0.1:%d" % self.proxy.port,
                            "--certificate-authority", PKI["cluster-ca"]["crt"], "--token",
                            "hpa-token", "get", "--raw", METRIC_PATH],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30 * SLOW,
                           env=dict(os.environ, KUBECONFIG=os.devnull))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(json.loads(r.stdout)["items"][0]["metricName"], METRIC)

    def test_the_api_service_ca_bundle_verifies_the_served_certificate(self):
        cab = ca_bundle(self.fake)
        if cab is None:
            self.skipTest(NOT_WIRED)
        self.proxy.get(DISCOVERY, "aggregator-token")
        self.assertTrue(self.proxy.verified[-1])
        self.assertEqual(verified_handshake(self.adapter.port, cab, SVC_DNS),
                         der(secret_data(self.fake)["tls.crt"]))


class CertManagerFiles(unittest.TestCase):
    """manifests/cert-manager/: the Deployment's args with cert-manager's Secret mounted."""

    def test_serves_the_mounted_certificate_and_picks_up_a_renewal(self):
        tmp = tempfile.mkdtemp(prefix="ta-cm-")
        self.addCleanup(shutil.rmtree, tmp, True)
        objs = render(CERT_MANAGER)
        ca_crt, _ = make_ca(tmp, "cm-ca")
        crt1, key1 = make_leaf(tmp, "leaf1", "cm-ca", days=90)
        api = find(objs, "APIService", APISVC)
        api["spec"]["caBundle"] = b64(ca_crt)  # what cainjector writes
        fk = start_fake([api])
        self.addCleanup(fk.stop)
        kubeconfig = fk.write_kubeconfig(os.path.join(tmp, "kubeconfig"),
                                         PKI["cluster-ca"]["crt"], token=ADAPTER_TOKEN)
        secret = {"tls.crt": crt1, "tls.key": key1, "ca.crt": ca_crt}
        a = DeploymentAdapter(objs, kubeconfig, env={"TA_SERVINGCERT_RECHECK_MS": "200"},
                              secrets={"tempo-adapter-tls": secret})
        a.start()
        self.addCleanup(lambda: a.proc is not None and a.stop())
        self.assertIn("--tls-cert-file", a.replaced)
        self.assertEqual(verified_handshake(a.port, ca_crt, SVC_DNS), der(crt1))
        proxy = AggregatorProxy(fk, a.port)
        self.addCleanup(proxy.stop)
        status, _, body = proxy.get(DISCOVERY, "aggregator-token")
        self.assertEqual(status, 200, body)
        self.assertEqual(proxy.verified, [True])
        self.assertEqual(certs.writes(fk), [])  # no Secret or APIService is touched
        if "serving certificate from " not in a.logs():
            self.skipTest("this tempo-adapter binary does not reload --tls-cert-file "
                          "(server/main.c must call servingcert_watch_files)")
        crt2, key2 = make_leaf(tmp, "leaf2", "cm-ca", days=90)
        mount = [m for m in a.mounts if a.replaced["--tls-cert-file"].split("=", 1)[1]
                 .startswith(a.mounts[m] + "/")][0]
        write_atomic(os.path.join(a.mounts[mount], "tls.key"), key2)
        write_atomic(os.path.join(a.mounts[mount], "tls.crt"), crt2)
        wait_until(lambda: served_leaf(a.port) == der(crt2), 15, "the renewed certificate")
        self.assertEqual(verified_handshake(a.port, ca_crt, SVC_DNS), der(crt2))


class ManagedServingCert(unittest.TestCase):
    """--manage-serving-cert against the fake kube-apiserver (module comment)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta-managed-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.objs = render(MANIFESTS)

    def shipped(self, secret=True, apiservice=True):
        out = []
        if secret:
            out.append(find(self.objs, "Secret", SECRET, NS))
        if apiservice:
            out.append(find(self.objs, "APIService", APISVC))
        return out

    def fake(self, objs):
        fk = start_fake(objs)
        self.addCleanup(fk.stop)
        self.kubeconfig = fk.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"),
                                              PKI["cluster-ca"]["crt"], token=ADAPTER_TOKEN)
        return fk

    def adapter(self, env=None, wait_ready=True):
        a = Adapter(args=["--manage-serving-cert", "--kubeconfig", self.kubeconfig,
                          "--service-namespace", NS], env=env, wait_ready=wait_ready)
        a.start()
        self.addCleanup(lambda: a.proc is not None and a.stop())
        return a

    def require_managed(self, fk):
        with fk.lock:
            touched = any("/secrets" in r["path"] for r in fk.requests)
        if not touched:
            self.skipTest(NOT_WIRED)

    def assertServesSecret(self, fk, a):
        data = secret_data(fk)
        self.assertEqual(sorted(data), ["ca.crt", "ca.key", "tls.crt", "tls.key"])
        self.assertEqual(served_leaf(a.port), der(data["tls.crt"]))
        cab = ca_bundle(fk)
        self.assertEqual(cab, data["ca.crt"])
        for name in NAMES4:
            self.assertEqual(verified_handshake(a.port, cab, name), der(data["tls.crt"]))
        return data

    def test_first_start_fills_the_shipped_secret_and_writes_the_ca_bundle(self):
        fk = self.fake(self.shipped())
        a = self.adapter()
        self.require_managed(fk)
        data = self.assertServesSecret(fk, a)
        self.assertEqual(len(pem_blocks(data["ca.crt"])), 1)
        self.assertTrue(valid_for(data["ca.crt"], 9 * 365 * 86400))
        self.assertTrue(valid_for(data["tls.crt"], 360 * 86400))
        self.assertFalse(valid_for(data["tls.crt"], 367 * 86400))
        self.assertEqual([w["method"] for w in certs.writes(fk, "secrets")], ["PUT"])
        self.assertEqual([w["method"] for w in certs.writes(fk, "apiservices")], ["PUT"])
        api = certs.get_object(fk, "apiservices", "", APISVC)
        self.assertNotIn("insecureSkipTLSVerify", api["spec"])
        self.assertEqual(api["spec"]["service"], {"name": "tempo-adapter", "namespace": NS,
                                                  "port": 443})
        logs = a.stop()
        self.assertNotIn("PRIVATE KEY", logs)
        self.assertNotIn(b64(data["tls.key"])[:40], logs)

    def test_a_missing_secret_is_created_when_rbac_allows_it(self):
        fk = self.fake(self.shipped(secret=False))
        a = self.adapter()
        self.require_managed(fk)
        self.assertEqual([w["method"] for w in certs.writes(fk, "secrets")], ["POST"])
        self.assertServesSecret(fk, a)

    def test_a_missing_secret_that_may_not_be_created_stops_the_start(self):
        fk = self.fake(self.shipped(secret=False))
        with fk.lock:
            fk.certs_forbid.add(("create", "secrets"))
        a = self.adapter(wait_ready=False)

        def exited_or_serving():
            if a.proc.poll() is not None:
                return True
            try:
                return a.try_get("/healthz") is not None
            except AssertionError:  # exited meanwhile
                return True

        wait_until(exited_or_serving, 30, "the adapter exits or serves")
        if a.proc.poll() is None:
            self.require_managed(fk)
            self.fail("the adapter serves without its Secret")
        logs = a.stop(expect_code=1)
        self.assertIn("Secret tempo-adapter/tempo-adapter-serving-cert does not exist and the "
                      "adapter may not create it (apply manifests/: they ship it empty)", logs)

    def test_a_second_replica_reuses_the_secret(self):
        fk = self.fake(self.shipped())
        a = self.adapter()
        self.require_managed(fk)
        n = len(certs.writes(fk))
        b = self.adapter()
        self.assertEqual(len(certs.writes(fk)), n)  # nothing written by the second replica
        self.assertEqual(served_leaf(b.port), served_leaf(a.port))
        self.assertServesSecret(fk, b)

    def test_a_certificate_expiring_within_30_days_is_renewed_under_the_same_ca(self):
        ca_crt, ca_key = make_ca(self.tmp, "ca")
        old_crt, old_key = make_leaf(self.tmp, "old", "ca", days=10)
        secret = secret_object(ca_crt, ca_key, old_crt, old_key)
        api = find(self.objs, "APIService", APISVC)
        api["spec"]["caBundle"] = b64(ca_crt)
        fk = self.fake([secret, api])
        a = self.adapter()
        self.require_managed(fk)
        data = self.assertServesSecret(fk, a)
        self.assertEqual(data["ca.crt"], ca_crt)
        self.assertEqual(data["ca.key"], ca_key)
        self.assertNotEqual(data["tls.crt"], old_crt)
        self.assertTrue(valid_for(data["tls.crt"], 300 * 86400))
        self.assertEqual(certs.writes(fk, "apiservices"), [])  # caBundle was already right

    def test_a_conflict_makes_the_adapter_use_the_other_replicas_certificate(self):
        ca_crt, ca_key = make_ca(self.tmp, "theirs-ca")
        crt, key = make_leaf(self.tmp, "theirs", "theirs-ca", days=365)
        theirs = secret_object(ca_crt, ca_key, crt, key)
        fk = self.fake(self.shipped())
        hits = []

        def other_replica_first(method, key_, obj):
            if key_[0] == "secrets" and method == "PUT" and not hits:
                hits.append(method)
                certs.store_locked(fk, key_, theirs)  # the stored resourceVersion moves on

        with fk.lock:
            fk.certs_before_write = other_replica_first
        a = self.adapter()
        self.require_managed(fk)
        self.assertEqual(hits, ["PUT"])
        self.assertEqual(certs.writes(fk, "secrets"), [])  # ours was refused with 409
        data = self.assertServesSecret(fk, a)
        self.assertEqual(data["tls.crt"], crt)
        self.assertEqual(ca_bundle(fk), ca_crt)
        self.assertIn("was changed by another replica meanwhile; reading it again", a.logs())

    def test_a_secret_rotated_by_another_replica_is_picked_up(self):
        fk = self.fake(self.shipped())
        a = self.adapter(env={"TA_SERVINGCERT_RECHECK_MS": "200"})
        self.require_managed(fk)
        first = self.assertServesSecret(fk, a)
        ca_crt, ca_key = make_ca(self.tmp, "rotated-ca")
        crt, key = make_leaf(self.tmp, "rotated", "rotated-ca", days=365)
        certs.put_object(fk, "secrets", NS, SECRET, secret_object(ca_crt, ca_key, crt, key))
        wait_until(lambda: served_leaf(a.port) == der(crt) and ca_bundle(fk) == ca_crt, 15,
                   "the rotated certificate is served and its CA is in the caBundle")
        self.assertNotEqual(first["tls.crt"], crt)
        self.assertServesSecret(fk, a)

    def test_an_apiservice_of_another_adapter_is_left_alone(self):
        api = find(self.objs, "APIService", APISVC)
        api["spec"]["service"] = {"name": "keda-operator-metrics-apiserver", "namespace": "keda",
                                  "port": 443}
        api["spec"]["insecureSkipTLSVerify"] = True
        fk = self.fake(self.shipped(apiservice=False) + [api])
        a = self.adapter()
        self.require_managed(fk)
        self.assertEqual(certs.writes(fk, "apiservices"), [])
        self.assertEqual(served_leaf(a.port), der(secret_data(fk)["tls.crt"]))
        self.assertIn("points at Service keda/keda-operator-metrics-apiserver, not "
                      "tempo-adapter/tempo-adapter", a.logs())


if __name__ == "__main__":
    unittest.main()
