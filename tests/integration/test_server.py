"""test_server.py — the process: flags, startup errors, TLS, limits, concurrency, shutdown.

Every load loop is bounded in count and time; every socket targets 127.0.0.1.
"""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest
import warnings

from tests.integration.harness import Adapter, AdapterTest, BIN_DIR, SLOW, insecure_context

BIN = os.path.join(BIN_DIR, "tempo-adapter")
GV = "/apis/external.metrics.k8s.io/v1beta1"


def run(args, timeout=10):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout * SLOW)


class FlagsTest(unittest.TestCase):
    def test_unknown_flag_exits_2_with_one_line(self):
        r = run(["--tempo-ulr=http://x"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.strip().count("\n"), 0, r.stderr)
        self.assertIn("unknown flag --tempo-ulr", r.stderr)

    def test_bad_value_exits_2(self):
        r = run(["--secure-port", "abc"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--secure-port", r.stderr)

    def test_help_lists_flags_with_defaults(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        for name in ("--tempo-url", "--secure-port", "--otlp-bind-address", "--insecure-disable-auth"):
            self.assertIn(name, r.stdout)
        self.assertIn("(default 6443)", r.stdout)

    def test_version(self):
        r = run(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^tempo-adapter \d+\.\d+\.\d+")

    def test_bad_rules_file_exits_1_naming_file_line_column(self):
        a = Adapter(rules="externalRules:\n  - name: x\n    spans: '{ kind = server }'\n    metric: nope\n",
                    wait_ready=False)
        a.start()
        a.proc.wait(timeout=10 * SLOW)
        out = a.logs()
        a.stop(expect_code=1)
        self.assertRegex(out, r"rules\.yaml:4:\d+: .*nope")


class TlsTest(AdapterTest):
    def test_tls12_and_13_only_and_certificate_reused_on_restart(self):
        a = Adapter(rules=None)
        a.start()
        cert_dir = os.path.join(a.tmp, "certs")
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = insecure_context()
            ctx.minimum_version = ctx.maximum_version = version
            self.assertEqual(a.get("/healthz", context=ctx).status, 200)
        ctx = insecure_context()
        try:
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 on purpose
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            with self.assertRaises((ssl.SSLError, OSError)):
                a.get("/healthz", context=ctx)
        except ValueError:
            pass  # this OpenSSL cannot even offer TLS 1.1: nothing to check
        with open(os.path.join(cert_dir, "apiserver.crt"), "rb") as f:
            first = f.read()
        der1 = ssl.get_server_certificate(("127.0.0.1", a.port))
        # restart on the same cert dir: the certificate is reused
        a.proc.send_signal(signal.SIGTERM)
        a.proc.wait(timeout=10)
        a.log.close()
        a.proc = None
        b = Adapter(args=["--cert-dir", cert_dir])
        b.start()
        self.addCleanup(b.stop)
        with open(os.path.join(cert_dir, "apiserver.crt"), "rb") as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(ssl.get_server_certificate(("127.0.0.1", b.port)), der1)
        # SANs cover localhost and 127.0.0.1: verification with the file as CA succeeds
        ctx = ssl.create_default_context(cafile=os.path.join(cert_dir, "apiserver.crt"))
        conn = http.client.HTTPSConnection("localhost", b.port, context=ctx, timeout=5)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        a = self.adapter()
        conn = http.client.HTTPSConnection("127.0.0.1", a.port, context=insecure_context(), timeout=5)
        for _ in range(20):
            conn.request("GET", GV)
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        conn.close()

    def test_json_logs(self):
        a = self.adapter(args=["--log-format", "json", "-v", "4"])
        a.get("/healthz")
        text = a.stop()
        lines = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
        self.assertTrue(lines)
        self.assertTrue(all({"ts", "caller", "msg"} <= set(l) for l in lines))
        self.assertTrue(any("GET /healthz 200" in l["msg"] for l in lines))


def raw_request(port, data, timeout=10):
    """Sends raw bytes over TLS and returns (status, body)."""
    ctx = insecure_context()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            try:
                t.sendall(data)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the server may answer and close before reading everything
            chunks = []
            try:
                while True:
                    c = t.recv(65536)
                    if not c:
                        break
                    chunks.append(c)
            except (ConnectionResetError, ssl.SSLError, socket.timeout):
                pass
    resp = b"".join(chunks)
    head, _, body = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else 0
    return status, body


class LimitsTest(AdapterTest):
    @classmethod
    def setUpClass(cls):
        cls.a = Adapter().start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()

    def test_long_url_is_414(self):
        r = self.a.get("/apis/" + "a" * 9000)
        self.assertStatus(r, 414)
        status, _ = raw_request(self.a.port, b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(status, (414, 431))
        self.assertEqual(self.a.get("/healthz").status, 200)

    def test_huge_headers_are_431(self):
        r = self.a.get("/healthz", headers={"X-Big": "b" * 17000})
        self.assertStatus(r, 431)
        status, _ = raw_request(self.a.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                                + b"b" * (1 << 20) + b"\r\n\r\n")
        self.assertIn(status, (413, 431))
        many = {"X-H%d" % i: "v" for i in range(150)}
        self.assertStatus(self.a.get("/healthz", headers=many), 431)

    def test_huge_body_is_413(self):
        # the server may answer 413 and close before the client has sent the whole body, so
        # the raw client tolerates a broken pipe and reads the answer
        status, body = raw_request(self.a.port, b"GET " + GV.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Length: 1048576\r\n\r\n" + b"x" * (1 << 20))
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body)["reason"], "RequestEntityTooLarge")
        # a body just over the limit that fits in one write is refused the same way
        self.assertStatus(self.a.request("GET", GV, body=b"x" * (64 * 1024 + 1)), 413)
        # a chunked body without Content-Length is cut off at the limit too
        status, _ = raw_request(self.a.port, b"POST " + GV.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n100000\r\n" + b"y" * 0x100000 + b"\r\n0\r\n\r\n")
        self.assertEqual(status, 413)

    def test_invalid_utf8_and_nul_in_path(self):
        for path in (GV + "/namespaces/shop/%FF%FE", GV + "/namespaces/shop/a%00b", "/apis/%C0%AF",
                     GV + "/namespaces/sh%2Fop/x"):
            r = self.a.get(path)
            self.assertIn(r.status, (400, 404), path)
            self.assertEqual(r.json()["kind"], "Status")
        self.assertEqual(self.a.get("/healthz").status, 200)

    def test_garbage_bytes_do_not_hurt(self):
        for data in (b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
            raw_request(self.a.port, data, timeout=3)
        with socket.create_connection(("127.0.0.1", self.a.port), timeout=3) as s:
            s.sendall(b"not tls at all\r\n\r\n")  # plain text on the TLS port
            try:
                s.recv(100)
            except OSError:
                pass
        self.assertEqual(self.a.get("/healthz").status, 200)


class ConcurrencyTest(AdapterTest):
    def test_1000_concurrent_connections(self):
        """1,000 TLS connections held open at once, each served, then served again."""
        a = self.adapter()
        n = 1000
        conns, errors = [], []
        lock = threading.Lock()
        deadline = time.monotonic() + 120 * SLOW

        def get(c):
            try:
                c.request("GET", GV)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    errors.append(r.status)
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(e))

        def opener(count):
            for _ in range(count):
                if time.monotonic() > deadline:
                    return
                c = http.client.HTTPSConnection("127.0.0.1", a.port, context=insecure_context(),
                                                timeout=30 * SLOW)
                get(c)  # connect, ask, and keep the connection open
                with lock:
                    conns.append(c)

        started = time.monotonic()
        try:
            openers = [threading.Thread(target=opener, args=(n // 10,)) for _ in range(10)]
            for t in openers:
                t.start()
            for t in openers:
                t.join()
            self.assertEqual(errors, [])
            self.assertEqual(len(conns), n, "connections not opened in time")
            # All 1,000 are open now. Ask again on each, unless opening took so long (a loaded
            # machine) that the first ones reached the 60 s idle time-out meanwhile.
            if time.monotonic() - started < 45:
                workers = [threading.Thread(target=lambda chunk: [get(c) for c in chunk],
                                            args=(conns[i::20],)) for i in range(20)]
                for t in workers:
                    t.start()
                for t in workers:
                    t.join(timeout=max(1, deadline - time.monotonic()))
                self.assertFalse(any(t.is_alive() for t in workers), "requests did not finish")
                self.assertEqual(errors, [])
        finally:
            for c in conns:
                c.close()
        self.assertEqual(a.get("/healthz").status, 200)


class ShutdownTest(AdapterTest):
    def test_sigterm_exits_0_within_5s_and_finishes_in_flight(self):
        a = Adapter()
        a.start()
        conn = http.client.HTTPSConnection("127.0.0.1", a.port, context=insecure_context(), timeout=10)
        conn.request("GET", GV)
        conn.getresponse().read()  # an idle keep-alive connection stays open
        t0 = time.monotonic()
        a.proc.send_signal(signal.SIGTERM)
        a.proc.wait(timeout=10 * SLOW)
        self.assertLess(time.monotonic() - t0, 5 * SLOW)
        self.assertEqual(a.proc.returncode, 0)
        conn.close()
        a.log.close()
        a.proc = None
        self.assertIn("received SIGTERM", a.logs())

    def test_sigint_too(self):
        a = Adapter()
        a.start()
        a.proc.send_signal(signal.SIGINT)
        a.proc.wait(timeout=10 * SLOW)
        self.assertEqual(a.proc.returncode, 0)
        a.log.close()
        a.proc = None


if __name__ == "__main__":
    unittest.main()
