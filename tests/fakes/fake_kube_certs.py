#!/usr/bin/python3
"""fake_kube_certs.py — Secret and APIService endpoints for tests/fakes/fake_kube.py (stdlib only).

install(fake) adds, through FakeKube.add_route, what --manage-serving-cert uses:

  GET    /api/v1/namespaces/{ns}/secrets/{name}
  PUT    /api/v1/namespaces/{ns}/secrets/{name}       update; resourceVersion must match (409)
  PATCH  /api/v1/namespaces/{ns}/secrets/{name}       JSON merge patch
  POST   /api/v1/namespaces/{ns}/secrets              create (409 AlreadyExists)
  GET    /apis/apiregistration.k8s.io/v1/apiservices/{name}
  PUT    /apis/apiregistration.k8s.io/v1/apiservices/{name}   (422 with caBundle AND
                                                              insecureSkipTLSVerify, as validation)
  PATCH  /apis/apiregistration.k8s.io/v1/apiservices/{name}

Objects live in fake.objects[(resource, namespace, name)] ("" namespace for APIServices); every
accepted write bumps metadata.resourceVersion and is recorded in fake.writes as
{"method", "path", "object"} (the object as stored). Kubernetes' Status wording is used for 404,
409 Conflict/AlreadyExists, 403 and 422. Test hooks, all under fake.lock:

  fake.certs_forbid        set of (verb, resource) answered 403, e.g. {("create", "secrets")}
  fake.certs_before_write  callable(method, key, obj) -> None, run before a write is checked:
                           it may change fake.objects (another replica writing first)

put_object(fake, resource, ns, name, obj) stores an object as `kubectl apply` would;
store_locked(fake, key, obj) does the same from inside a hook (fake.lock held).
"""
import copy
import json
import re

SECRET_RX = r"/api/v1/namespaces/([a-z0-9.-]+)/secrets/([a-z0-9.-]+)$"
SECRETS_RX = r"/api/v1/namespaces/([a-z0-9.-]+)/secrets$"
APISERVICE_RX = r"/apis/apiregistration\.k8s\.io/v1/apiservices/([a-z0-9.-]+)$"
ADAPTER_USER = "system:serviceaccount:tempo-adapter:tempo-adapter"


def _status(code, reason, message, details=None):
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": message, "reason": reason, "code": code}
    if details:
        st["details"] = details
    return st


def _merge(dst, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(dst) if isinstance(dst, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


def _bump(fake, obj):
    fake.certs_rv += 1
    obj.setdefault("metadata", {})["resourceVersion"] = str(fake.certs_rv)
    return obj


def store_locked(fake, key, obj):
    """Stores obj under key = (resource, namespace, name) with a new resourceVersion; the caller
    holds fake.lock (a certs_before_write hook does)."""
    resource, ns, name = key
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).update({"name": name})
    if ns:
        obj["metadata"]["namespace"] = ns
    fake.objects[key] = _bump(fake, obj)


def put_object(fake, resource, ns, name, obj):
    with fake.lock:
        store_locked(fake, (resource, ns, name), obj)


def _kind_group(resource):
    return {"secrets": ("Secret", ""), "apiservices": ("APIService", "apiregistration.k8s.io")}[
        resource]


def _forbidden(resource, verb, ns, name):
    kind, group = _kind_group(resource)
    where = ' in the namespace "%s"' % ns if ns else ""
    return 403, _status(403, "Forbidden",
                        '%s "%s" is forbidden: User "%s" cannot %s resource "%s" in API group '
                        '"%s"%s' % (resource, name, ADAPTER_USER, verb, resource, group, where),
                        {"name": name, "kind": resource})


def _not_found(resource, name):
    return 404, _status(404, "NotFound", '%s "%s" not found' % (resource, name),
                        {"name": name, "kind": resource})


def _conflict(resource, name):
    return 409, _status(409, "Conflict",
                        'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                        "please apply your changes to the latest version and try again"
                        % (resource, name), {"name": name, "kind": resource})


def _validate(resource, obj):
    """None, or the 422 a real kube-apiserver gives."""
    if resource == "apiservices":
        spec = obj.get("spec") or {}
        if spec.get("caBundle") and spec.get("insecureSkipTLSVerify"):
            name = obj.get("metadata", {}).get("name", "")
            return 422, _status(422, "Invalid",
                                'APIService.apiregistration.k8s.io "%s" is invalid: '
                                "spec.insecureSkipTLSVerify: Invalid value: true: may not be true "
                                "if caBundle is present" % name)
    return None


def _handler(resource, verb):
    """One route handler for (resource, verb); the table below wires them."""

    def handle(fake, method, path, mt, body, who):
        groups = mt.groups()
        ns, name = (groups if len(groups) == 2 else ("", groups[0])) if verb != "create" \
            else (groups[0], None)
        obj = json.loads(body) if body else None
        if verb == "create":
            name = ((obj or {}).get("metadata") or {}).get("name", "")
        with fake.lock:
            if (verb, resource) in fake.certs_forbid:
                return _forbidden(resource, verb, ns, name)
            key = (resource, ns, name)
            hook = fake.certs_before_write
            if verb != "get" and hook:
                hook(method, key, obj)
            cur = fake.objects.get(key)
            if verb == "get":
                return (200, copy.deepcopy(cur)) if cur else _not_found(resource, name)
            if verb == "create":
                if cur:
                    return 409, _status(409, "AlreadyExists",
                                        '%s "%s" already exists' % (resource, name),
                                        {"name": name, "kind": resource})
                new = copy.deepcopy(obj)
                if (new.get("metadata") or {}).get("resourceVersion"):
                    return 400, _status(400, "BadRequest",
                                        "resourceVersion should not be set on objects to be "
                                        "created")
            elif not cur:
                return _not_found(resource, name)
            elif verb == "update":
                new = copy.deepcopy(obj)
                if (new.get("metadata") or {}).get("name") != name:
                    return 400, _status(400, "BadRequest", "the name of the object (%s) does not "
                                        "match the name on the URL (%s)"
                                        % ((new.get("metadata") or {}).get("name"), name))
                rv = (new.get("metadata") or {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    return _conflict(resource, name)
            else:  # patch
                new = _merge(cur, obj)
                rv = ((obj or {}).get("metadata") or {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    return _conflict(resource, name)
            bad = _validate(resource, new)
            if bad:
                return bad
            if ns:
                new.setdefault("metadata", {})["namespace"] = ns
            fake.objects[key] = _bump(fake, new)
            fake.writes.append({"method": method, "path": path, "object": copy.deepcopy(new)})
            return (201 if verb == "create" else 200), copy.deepcopy(new)

    return handle


ROUTES = [  # (method, path regex, resource, verb)
    ("GET", SECRET_RX, "secrets", "get"),
    ("PUT", SECRET_RX, "secrets", "update"),
    ("PATCH", SECRET_RX, "secrets", "patch"),
    ("POST", SECRETS_RX, "secrets", "create"),
    ("GET", APISERVICE_RX, "apiservices", "get"),
    ("PUT", APISERVICE_RX, "apiservices", "update"),
    ("PATCH", APISERVICE_RX, "apiservices", "patch"),
]


def install(fake):
    """Adds the routes and the state they use to a FakeKube; returns it."""
    with fake.lock:
        if getattr(fake, "objects", None) is None:
            fake.objects = {}
            fake.writes = []
            fake.certs_rv = 1000
            fake.certs_forbid = set()
            fake.certs_before_write = None
    for method, rx, resource, verb in ROUTES:
        fake.add_route(method, rx, _handler(resource, verb))
    return fake


def writes(fake, resource=None):
    """The recorded writes (optionally only those whose path names resource)."""
    with fake.lock:
        w = list(fake.writes)
    if resource:
        w = [x for x in w if "/%s" % resource in x["path"]]
    return w


def get_object(fake, resource, ns, name):
    with fake.lock:
        return copy.deepcopy(fake.objects.get((resource, ns, name)))


if __name__ == "__main__":
    raise SystemExit("import this module: install(FakeKube(...))")
