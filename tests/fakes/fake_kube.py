#!/usr/bin/python3
"""fake_kube.py — a fake kube-apiserver for the adapter's delegated auth (stdlib only).

HTTPS (ssl module) with the test PKI of tests/fakes/pki.py. Serves, through a table of routes
(method, path regex, handler) that colleagues may extend with add_route():

  POST /apis/authentication.k8s.io/v1/tokenreviews          token table from the test
  POST /apis/authorization.k8s.io/v1/subjectaccessreviews   policy from the test; every review
                                                             body received is recorded
  GET  /api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication
                                                             data from the test (None -> 404)

The adapter's own credentials are checked on every API route: a bearer token from
`auth_tokens`, or a client certificate (verified against `client_ca`) whose CN is in
`client_cns`; otherwise 401 with a Status body. When both sets are empty nothing is checked.

Fault switch (`fault`, optionally limited to paths matching `fault_path`):
  "down"  the connection is closed before the TLS handshake (kube-apiserver unreachable)
  "500"   every answer is 500 with an InternalError Status
  "slow"  answers after `slow_seconds` (default 15)

Policy: a list of rules, the first whose given keys all match decides; no match denies.
  {"user": "jane", "group": "dev", "verb": "list", "resource": "m", "namespace": "ns",
   "path": "/openapi/v2", "allowed": true, "reason": "..."}
or, in-process, any callable spec -> (allowed, reason).

Test control endpoints (no credentials; never in the request log):
  GET  /_fake/state          the current state (tokens, policy, configmap, fault...)
  POST /_fake/state          merge a JSON object into the state
  GET  /_fake/reviews        every SubjectAccessReview body received, in order
  GET  /_fake/tokenreviews   every TokenReview body received
  GET  /_fake/requests       [{"method","path","auth","status"}] for every API request
  DELETE /_fake/requests     clears the three lists

Run standalone: fake_kube.py --cert C --key K [--client-ca CA] [--state state.json]
[--port 0] [--port-file F]; SIGTERM stops it. In-process: FakeKube(cert, key, ...).start().
"""
import argparse
import copy
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

CONFIGMAP_PATH = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
MAX_BODY = 4 << 20


def status_body(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, fake):
        self.fake = fake
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        """TLS per connection, in the connection's thread (a slow client blocks nobody)."""
        fake = self.fake
        if fake.fault_applies(None) == "down":
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            request.close()
            return
        request.settimeout(30)
        try:
            tls = fake.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # client hang-ups are normal in fault tests


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_KUBE_VERBOSE"):
            sys.stderr.write("fake_kube: " + (fmt % args) + "\n")

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    def _send(self, code, obj, ctype="application/json"):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        fake = self.server.fake
        path = self.path.split("?", 1)[0]
        if path.startswith("/_fake/"):
            return fake.control(self, method, path)
        body = self._body()
        who = fake.identify(self)
        fault = fake.fault_applies(path)
        if fault == "down":  # a kept-alive connection dies too
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "slow":
            time.sleep(fake.state.get("slow_seconds", 15))
        if fault == "500":
            code, obj = 500, status_body(500, "InternalError", "fake fault: internal error")
        elif not fake.credentials_ok(who):
            code, obj = 401, status_body(401, "Unauthorized", "Unauthorized")
        else:
            code, obj = fake.route(method, path, body, who)
        fake.log_request(method, path, who, code)
        try:
            self._send(code, obj)
        except OSError:
            pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")


class FakeKube:
    def __init__(self, cert, key, client_ca=None, state=None, port=0):
        self.lock = threading.Lock()
        self.state = {
            "tokens": {},          # token -> {"username","uid","groups","extra"}
            "policy": [],          # rules, or a callable (in-process only)
            "configmap": None,     # data dict, or None for 404
            "auth_tokens": [],     # bearer tokens accepted from the adapter
            "client_cns": [],      # client-certificate CNs accepted from the adapter
            "fault": None,         # None | "down" | "500" | "slow"
            "fault_path": None,    # regex: the fault only applies to matching paths
            "slow_seconds": 15,
        }
        if state:
            self.state.update(state)
        self.reviews = []
        self.tokenreviews = []
        self.requests = []
        self.routes = []
        self.add_route("POST", re.escape(TOKENREVIEW_PATH) + "$", self._tokenreview)
        self.add_route("POST", re.escape(SAR_PATH) + "$", self._sar)
        self.add_route("GET", re.escape(CONFIGMAP_PATH) + "$", self._configmap)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        self.ssl_context = ctx
        self.server = _Server(("127.0.0.1", port), _Handler, self)
        self.port = self.server.server_address[1]
        self.thread = None

    # -- routing -------------------------------------------------------------------------------
    def add_route(self, method, pattern, fn):
        """fn(fake, method, path, match, body_bytes, who) -> (code, obj)."""
        self.routes.append((method, re.compile(pattern), fn))

    def route(self, method, path, body, who):
        known = False
        for m, rx, fn in self.routes:
            mt = rx.match(path)
            if not mt:
                continue
            known = True
            if m == method:
                try:
                    return fn(self, method, path, mt, body, who)
                except (ValueError, KeyError, TypeError) as e:
                    return 400, status_body(400, "BadRequest", "fake: %s" % e)
        if known:
            return 405, status_body(405, "MethodNotAllowed", "method not allowed")
        return 404, status_body(404, "NotFound", "the server could not find the requested resource")

    # -- state ---------------------------------------------------------------------------------
    def update(self, **kw):
        with self.lock:
            self.state.update(kw)

    def fault_applies(self, path):
        with self.lock:
            fault = self.state.get("fault")
            fp = self.state.get("fault_path")
        if not fault:
            return None
        if fp and path is not None and not re.search(fp, path):
            return None
        if fp and path is None and fault == "down":
            return None  # limited to paths: dropped after reading the request line instead
        return fault

    def identify(self, handler):
        auth = handler.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return {"kind": "bearer", "token": auth[7:].strip()}
        try:
            cert = handler.connection.getpeercert()
        except (ValueError, OSError):
            cert = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return {"kind": "cert", "cn": v}
        return None

    def credentials_ok(self, who):
        with self.lock:
            toks = list(self.state.get("auth_tokens") or [])
            cns = list(self.state.get("client_cns") or [])
        if not toks and not cns:
            return True
        if who and who["kind"] == "bearer":
            return who["token"] in toks
        if who and who["kind"] == "cert":
            return who["cn"] in cns
        return False

    def log_request(self, method, path, who, code):
        auth = None
        if who:
            auth = "bearer:" + who["token"] if who["kind"] == "bearer" else "cert:" + who["cn"]
        with self.lock:
            self.requests.append({"method": method, "path": path, "auth": auth, "status": code})

    # -- handlers ------------------------------------------------------------------------------
    @staticmethod
    def _tokenreview(fake, method, path, mt, body, who):
        req = json.loads(body)
        with fake.lock:
            fake.tokenreviews.append(req)
            tokens = dict(fake.state.get("tokens") or {})
        token = req["spec"]["token"]
        resp = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "metadata": {"creationTimestamp": None}, "spec": req["spec"]}
        if token in tokens:
            resp["status"] = {"authenticated": True, "user": tokens[token]}
        else:
            resp["status"] = {"user": {}, "error": "invalid bearer token"}
        return 201, resp

    @staticmethod
    def _sar(fake, method, path, mt, body, who):
        req = json.loads(body)
        with fake.lock:
            fake.reviews.append(req)
            policy = fake.state.get("policy")
        spec = req["spec"]
        allowed, reason = fake.decide(policy, spec)
        status = {"allowed": bool(allowed)}
        if reason:
            status["reason"] = reason
        resp = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
        return 201, resp

    @staticmethod
    def decide(policy, spec):
        if callable(policy):
            return policy(spec)
        ra = spec.get("resourceAttributes") or {}
        nra = spec.get("nonResourceAttributes") or {}
        for rule in policy or []:
            ok = True
            for k, v in rule.items():
                if k in ("allowed", "reason"):
                    continue
                if k == "user":
                    ok = spec.get("user") == v
                elif k == "group":
                    ok = v in (spec.get("groups") or [])
                elif k in ("verb",):
                    ok = (ra or nra).get("verb") == v
                elif k in ("resource", "namespace"):
                    ok = ra.get(k) == v
                elif k == "path":
                    ok = nra.get("path") == v
                else:
                    ok = False
                if not ok:
                    break
            if ok:
                return rule.get("allowed", True), rule.get("reason", "")
        return False, ""

    @staticmethod
    def _configmap(fake, method, path, mt, body, who):
        with fake.lock:
            data = copy.deepcopy(fake.state.get("configmap"))
        if data is None:
            return 404, status_body(404, "NotFound", 'configmaps "extension-apiserver-authentication" '
                                    'not found')
        return 200, {"kind": "ConfigMap", "apiVersion": "v1",
                     "metadata": {"name": "extension-apiserver-authentication",
                                  "namespace": "kube-system"},
                     "data": data}

    # -- control -------------------------------------------------------------------------------
    def control(self, h, method, path):
        if path == "/_fake/state" and method == "GET":
            with self.lock:
                st = {k: v for k, v in self.state.items() if not callable(v)}
            return h._send(200, st)
        if path == "/_fake/state" and method == "POST":
            upd = json.loads(h._body() or b"{}")
            self.update(**upd)
            return h._send(200, {"ok": True})
        lists = {"/_fake/reviews": "reviews", "/_fake/tokenreviews": "tokenreviews",
                 "/_fake/requests": "requests"}
        if path in lists and method == "GET":
            with self.lock:
                data = list(getattr(self, lists[path]))
            return h._send(200, data)
        if path == "/_fake/requests" and method == "DELETE":
            self.clear()
            return h._send(200, {"ok": True})
        return h._send(404, status_body(404, "NotFound", "no such control endpoint"))

    def clear(self):
        with self.lock:
            self.reviews.clear()
            self.tokenreviews.clear()
            self.requests.clear()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def write_kubeconfig(self, path, ca_file, token=None, cert=None, key=None,
                         insecure=False, inline=False):
        """A kubeconfig pointing at this fake (files by path, or inline base64 data)."""
        import base64

        def data(p):
            with open(p, "rb") as f:
                return base64.b64encode(f.read()).decode()
        cluster = {"server": self.url()}
        if insecure:
            cluster["insecure-skip-tls-verify"] = True
        elif inline:
            cluster["certificate-authority-data"] = data(ca_file)
        else:
            cluster["certificate-authority"] = ca_file
        user = {}
        if token:
            user["token"] = token
        if cert:
            if inline:
                user["client-certificate-data"] = data(cert)
                user["client-key-data"] = data(key)
            else:
                user["client-certificate"] = cert
                user["client-key"] = key
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
               "clusters": [{"name": "fake", "cluster": cluster}],
               "users": [{"name": "adapter", "user": user}],
               "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "adapter"}}]}
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is YAML
        return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca")
    ap.add_argument("--state")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    state = None
    if a.state:
        with open(a.state) as f:
            state = json.load(f)
    fake = FakeKube(a.cert, a.key, a.client_ca, state, a.port)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % fake.port)
        os.rename(tmp, a.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake.start()
    while not stop.is_set():
        stop.wait(0.5)
    fake.stop()


if __name__ == "__main__":
    main()
