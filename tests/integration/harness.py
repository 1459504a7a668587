"""harness.py — starts the real bin/tempo-adapter on loopback for integration tests.

Every integration test module uses Adapter: it picks free ports, writes the rules file, starts
the binary (from $TA_BIN, as built by `make`/`make asan`), waits until it answers, and on stop()
sends SIGTERM and checks the exit code (so sanitizer reports fail the test). Requests go over
TLS to 127.0.0.1 with verification off (the adapter's self-signed certificate) unless a test
passes its own ssl context. Every wait is bounded.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("TA_BIN", os.path.join(ROOT, "bin"))
SAN = os.environ.get("TA_SAN", "")
# Sanitizer builds are several times slower; scale every deadline.
SLOW = 4.0 if SAN else 1.0


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict with lower-case names (last value wins)
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:300])


class Adapter:
    """One adapter process. Use as a context manager or call start()/stop()."""

    def __init__(self, args=(), rules=None, auth=False, env=None, ready_path="/healthz",
                 wait_ready=True):
        self.tmp = tempfile.mkdtemp(prefix="ta-it-")
        self.port = free_port()
        self.otlp_port = free_port()
        self.args = list(args)
        self.rules = rules
        self.auth = auth
        self.env = env
        self.ready_path = ready_path
        self.wait_ready = wait_ready
        self.proc = None
        self.log_path = os.path.join(self.tmp, "adapter.log")

    # -- lifecycle -------------------------------------------------------------------------
    def command(self):
        cmd = [os.path.join(BIN_DIR, "tempo-adapter"),
               "--bind-address", "127.0.0.1",
               "--secure-port", str(self.port),
               "--cert-dir", os.path.join(self.tmp, "certs"),
               "--otlp-bind-address", "127.0.0.1:%d" % self.otlp_port]
        if self.rules is not None:
            path = os.path.join(self.tmp, "rules.yaml")
            with open(path, "w") as f:
                f.write(self.rules)
            cmd += ["--config", path]
        if not self.auth:
            cmd.append("--insecure-disable-auth")
        return cmd + self.args

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if self.env:
            env.update(self.env)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        if self.wait_ready:
            try:
                self.wait_until(lambda: self.try_get(self.ready_path) is not None, 15 * SLOW,
                                "adapter did not answer %s" % self.ready_path)
            except BaseException:
                self.kill()  # never leave a process behind a failed start
                raise
        return self

    def kill(self):
        """Stops the process at once, without checks (for failure paths)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            self.proc = None

    def stop(self, expect_code=0, timeout=10):
        """SIGTERM, wait, and check the exit code; returns the log text."""
        if self.proc is None:
            return self.logs()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("adapter did not exit within %ds of SIGTERM\n%s"
                                     % (timeout, self.logs()[-4000:]))
        code = self.proc.returncode
        self.log.close()
        text = self.logs()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if expect_code is not None and code != expect_code:
            raise AssertionError("adapter exited with %d, expected %d\n%s"
                                 % (code, expect_code, text[-6000:]))
        return text

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            try:
                self.stop(expect_code=None)
            except Exception:
                pass

    @staticmethod
    def wait_until(pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError("timed out: " + what)

    # -- requests --------------------------------------------------------------------------
    def request(self, method, path, headers=None, body=None, context=None, timeout=10):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=context or insecure_context(),
                                           timeout=timeout * SLOW)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def get(self, path, headers=None, **kw):
        return self.request("GET", path, headers=headers, **kw)

    def try_get(self, path):
        try:
            return self.get(path, timeout=1)
        except (OSError, http.client.HTTPException):
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("adapter exited with %d\n%s"
                                     % (self.proc.returncode, self.logs()[-4000:]))
            return None

    def otlp_post(self, body, content_type="application/x-protobuf", headers=None,
                  path="/v1/traces", timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.otlp_port, timeout=timeout * SLOW)
        try:
            h = {"Content-Type": content_type}
            h.update(headers or {})
            conn.request("POST", path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()


class AdapterTest(unittest.TestCase):
    """Base class: self.adapter() starts one that is stopped (and checked) after the test."""

    def adapter(self, **kw):
        a = Adapter(**kw)
        a.start()
        self.addCleanup(lambda: a.proc is not None and a.stop())
        return a

    def assertStatus(self, resp, code, reason=None):
        """resp is a Kubernetes Status error with this code (and reason)."""
        self.assertEqual(resp.status, code, resp)
        self.assertTrue(resp.headers.get("content-type", "").startswith("application/json"), resp.headers)
        st = resp.json()
        self.assertEqual(st["kind"], "Status")
        self.assertEqual(st["apiVersion"], "v1")
        self.assertEqual(st["metadata"], {})
        self.assertEqual(st["status"], "Failure")
        self.assertEqual(st["code"], code)
        if reason is not None:
            self.assertEqual(st.get("reason"), reason)
        return st
