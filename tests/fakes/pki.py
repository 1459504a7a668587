#!/usr/bin/python3
"""pki.py — test certificates made with the `openssl` command (stdlib only).

make_pki(dir) writes, under dir, the PKI the auth tests need and returns a dict of paths:

  cluster-ca.{crt,key}        the cluster CA (kube-apiserver's serving CA)
  apiserver.{crt,key}         serving certificate for 127.0.0.1 / localhost (fake kube-apiserver)
  front-proxy-ca.{crt,key}    the request-header (front-proxy) CA
  front-proxy-client.{crt,key}  CN front-proxy-client, clientAuth: what kube-apiserver presents
  front-proxy-other.{crt,key}   CN not-allowed-proxy, same CA: a CN outside the allowed list
  front-proxy-expired.{crt,key} CN front-proxy-client, same CA, valid 2020-01-01..2020-01-02
  front-proxy-server-only.{crt,key} CN front-proxy-client, same CA, extendedKeyUsage serverAuth
  rogue-ca.{crt,key}          an unrelated CA
  rogue-proxy.{crt,key}       CN front-proxy-client signed by the rogue CA
  client-ca.{crt,key}         the cluster's client CA (ordinary users)
  user-jane.{crt,key}         CN jane, O=dev, O=ops, clientAuth, signed by client-ca
  adapter-client.{crt,key}    CN tempo-adapter, signed by client-ca (the adapter's own identity)
  front-proxy-ca-2.{crt,key}, front-proxy-client-2.{crt,key}  a second front-proxy PKI (rotation)

Keys are ECDSA P-256 (fast). Certificates are valid from an hour ago for ten years unless said.
"""
import os
import subprocess
import tempfile

OPENSSL = os.environ.get("OPENSSL", "openssl")


def _run(args, cwd):
    subprocess.run([OPENSSL] + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def _key(d, name):
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", name + ".key"], d)


def _ca(d, name, cn):
    _key(d, name)
    _run(["req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-days", "3650",
          "-out", name + ".crt",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)


def _leaf(d, name, subj, ca, exts):
    _key(d, name)
    _run(["req", "-new", "-key", name + ".key", "-subj", subj, "-out", name + ".csr"], d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("\n".join(exts) + "\n")
    _run(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
          "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", name + ".crt"], d)


def _leaf_dated(d, name, subj, ca, start, end, exts):
    """A leaf with explicit validity (openssl ca is the only 3.0 command that takes dates)."""
    _key(d, name)
    _run(["req", "-new", "-key", name + ".key", "-subj", subj, "-out", name + ".csr"], d)
    cadir = os.path.join(d, name + ".cadb")
    os.makedirs(cadir, exist_ok=True)
    open(os.path.join(cadir, "index.txt"), "w").close()
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("1000\n")
    conf = os.path.join(cadir, "ca.cnf")
    with open(conf, "w") as f:
        f.write("[ca]\ndefault_ca=c\n[c]\ndir=%s\ndatabase=$dir/index.txt\nserial=$dir/serial\n"
                "new_certs_dir=$dir\ndefault_md=sha256\npolicy=p\ncopy_extensions=none\n"
                "unique_subject=no\nx509_extensions=e\n[p]\ncommonName=supplied\n"
                "organizationName=optional\n[e]\n%s\n" % (cadir, "\n".join(exts)))
    _run(["ca", "-batch", "-config", conf, "-cert", ca + ".crt", "-keyfile", ca + ".key",
          "-startdate", start, "-enddate", end, "-in", name + ".csr", "-out", name + ".crt",
          "-notext"], d)


CLIENT_EXTS = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
               "extendedKeyUsage=clientAuth"]


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    _ca(d, "cluster-ca", "kubernetes")
    _leaf(d, "apiserver", "/CN=kube-apiserver", "cluster-ca",
          ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
           "extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
    _ca(d, "front-proxy-ca", "front-proxy-ca")
    _leaf(d, "front-proxy-client", "/CN=front-proxy-client", "front-proxy-ca", CLIENT_EXTS)
    _leaf(d, "front-proxy-other", "/CN=not-allowed-proxy", "front-proxy-ca", CLIENT_EXTS)
    _leaf(d, "front-proxy-server-only", "/CN=front-proxy-client", "front-proxy-ca",
          ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
           "extendedKeyUsage=serverAuth"])
    _leaf_dated(d, "front-proxy-expired", "/CN=front-proxy-client", "front-proxy-ca",
                "20200101000000Z", "20200102000000Z", CLIENT_EXTS)
    _ca(d, "rogue-ca", "front-proxy-ca")  # same CN as the real one: only the key differs
    _leaf(d, "rogue-proxy", "/CN=front-proxy-client", "rogue-ca", CLIENT_EXTS)
    _ca(d, "client-ca", "kubernetes-client")
    _leaf(d, "user-jane", "/O=dev/O=ops/CN=jane", "client-ca", CLIENT_EXTS)
    _leaf(d, "adapter-client", "/CN=tempo-adapter", "client-ca", CLIENT_EXTS)
    _ca(d, "front-proxy-ca-2", "front-proxy-ca-2")
    _leaf(d, "front-proxy-client-2", "/CN=front-proxy-client", "front-proxy-ca-2", CLIENT_EXTS)
    out = {}
    for f in sorted(os.listdir(d)):
        base, ext = os.path.splitext(f)
        if ext in (".crt", ".key"):
            out.setdefault(base, {})[ext[1:]] = os.path.join(d, f)
    return out


def read(path):
    with open(path) as f:
        return f.read()


if __name__ == "__main__":
    import sys
    target = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="pki-")
    for k, v in make_pki(target).items():
        print(k, v.get("crt", ""), v.get("key", ""))
