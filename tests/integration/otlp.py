"""otlp.py — a small OTLP trace encoder (protobuf and OTLP/JSON) for the integration tests.

Standard library only (Debian 12's python3). Requests are built from plain dicts:

    resource_spans = [{
        "resource": {"service.name": "checkout", "k8s.namespace.name": "shop"},
        "spans": [span(trace_id, span_id, name="POST /checkout", kind="server",
                       start_ns=t, end_ns=t + 120_000_000, status="ok",
                       attrs={"http.route": "/checkout"}, parent=None)],
    }]
    body = encode_request(resource_spans)            # application/x-protobuf
    body = to_json(resource_spans)                   # application/json (hex ids, string int64)

Field numbers are those of opentelemetry-proto (collector/trace/v1, trace/v1, common/v1,
resource/v1). Attribute values: str -> string_value, bool -> bool_value, int -> int_value,
float -> double_value, bytes -> bytes_value, list -> array_value, dict -> kvlist_value.
decode_request() reads a protobuf request back into the same shape (used to check
bin/tracegen's output); decode_response() reads ExportTraceServiceResponse / google.rpc.Status.
"""
import base64
import gzip as _gzip
import json
import os
import struct
import time

KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4,
         "consumer": 5}
STATUSES = {"unset": 0, "ok": 1, "error": 2}


# ---- building blocks --------------------------------------------------------------------

def random_trace_id():
    return os.urandom(16)


def random_span_id():
    while True:
        b = os.urandom(8)
        if any(b):
            return b


def now_ns():
    return time.time_ns()


def span(trace_id, span_id, name="op", kind="server", start_ns=None, end_ns=None,
         status="unset", attrs=None, parent=None, status_message=""):
    """A span dict. kind/status accept names or OTLP numbers; times default to now."""
    if start_ns is None:
        start_ns = now_ns() - 1_000_000_000
    if end_ns is None:
        end_ns = start_ns + 100_000_000
    return {"trace_id": trace_id, "span_id": span_id, "parent": parent, "name": name,
            "kind": kind, "start_ns": start_ns, "end_ns": end_ns, "status": status,
            "status_message": status_message, "attrs": dict(attrs or {})}


def _kind(k):
    return KINDS[k] if isinstance(k, str) else int(k)


def _status(s):
    return STATUSES[s] if isinstance(s, str) else int(s)


# ---- protobuf ---------------------------------------------------------------------------

def _varint(v):
    if v < 0:
        v += 1 << 64  # int64 two's complement, 10 bytes
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(field, wire):
    return _varint(field << 3 | wire)


def _len_field(field, data):
    return _tag(field, 2) + _varint(len(data)) + data


def _varint_field(field, v):
    return _tag(field, 0) + _varint(v)


def _fixed64_field(field, v):
    return _tag(field, 1) + struct.pack("<Q", v)


def _any_value(v):
    if isinstance(v, bool):
        return _varint_field(2, 1 if v else 0)
    if isinstance(v, int):
        return _varint_field(3, v)
    if isinstance(v, float):
        return _tag(4, 1) + struct.pack("<d", v)
    if isinstance(v, str):
        return _len_field(1, v.encode())
    if isinstance(v, (bytes, bytearray)):
        return _len_field(7, bytes(v))
    if isinstance(v, (list, tuple)):
        return _len_field(5, b"".join(_len_field(1, _any_value(x)) for x in v))
    if isinstance(v, dict):
        return _len_field(6, b"".join(_len_field(1, _key_value(k, x)) for k, x in v.items()))
    raise TypeError("unsupported attribute value %r" % (v,))


def _key_value(k, v):
    return _len_field(1, k.encode()) + _len_field(2, _any_value(v))


def _attributes(field, attrs):
    return b"".join(_len_field(field, _key_value(k, v)) for k, v in attrs.items())


def encode_span(s):
    out = _len_field(1, s["trace_id"]) + _len_field(2, s["span_id"])
    if s.get("parent"):
        out += _len_field(4, s["parent"])
    out += _len_field(5, s.get("name", "").encode())
    kind = _kind(s.get("kind", 0))
    if kind:
        out += _varint_field(6, kind)
    out += _fixed64_field(7, s["start_ns"]) + _fixed64_field(8, s["end_ns"])
    out += _attributes(9, s.get("attrs") or {})
    code = _status(s.get("status", 0))
    msg = s.get("status_message", "")
    if code or msg:
        st = b""
        if msg:
            st += _len_field(2, msg.encode())
        if code:
            st += _varint_field(3, code)
        out += _len_field(15, st)
    return out


def encode_request(resource_spans):
    """ExportTraceServiceRequest bytes (application/x-protobuf)."""
    out = b""
    for rs in resource_spans:
        body = b""
        if rs.get("resource") is not None:
            body += _len_field(1, _attributes(1, rs["resource"]))
        scope = _len_field(1, rs.get("scope", "tests").encode())
        spans = b"".join(_len_field(2, encode_span(s)) for s in rs.get("spans", []))
        body += _len_field(2, _len_field(1, scope) + spans)
        out += _len_field(1, body)
    return out


# ---- OTLP/JSON --------------------------------------------------------------------------

def _json_any(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, (bytes, bytearray)):
        return {"bytesValue": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [_json_any(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _json_any(x)}
                                           for k, x in v.items()]}}
    raise TypeError("unsupported attribute value %r" % (v,))


def _json_attrs(attrs):
    return [{"key": k, "value": _json_any(v)} for k, v in attrs.items()]


def json_span(s, enum_names=False):
    out = {"traceId": s["trace_id"].hex(), "spanId": s["span_id"].hex(),
           "name": s.get("name", ""),
           "startTimeUnixNano": str(s["start_ns"]), "endTimeUnixNano": str(s["end_ns"]),
           "attributes": _json_attrs(s.get("attrs") or {})}
    if s.get("parent"):
        out["parentSpanId"] = s["parent"].hex()
    kind = _kind(s.get("kind", 0))
    if kind:
        out["kind"] = ("SPAN_KIND_" + [k for k, v in KINDS.items() if v == kind][0].upper()
                       if enum_names else kind)
    code = _status(s.get("status", 0))
    st = {}
    if code:
        st["code"] = ("STATUS_CODE_" + [k for k, v in STATUSES.items() if v == code][0].upper()
                      if enum_names else code)
    if s.get("status_message"):
        st["message"] = s["status_message"]
    if st:
        out["status"] = st
    return out


def to_json(resource_spans, enum_names=False):
    """ExportTraceServiceRequest as OTLP/JSON bytes: lowerCamelCase keys, hex ids, int64 as
    strings, enums as numbers (or names with enum_names=True)."""
    req = {"resourceSpans": []}
    for rs in resource_spans:
        item = {"scopeSpans": [{"scope": {"name": rs.get("scope", "tests")},
                                "spans": [json_span(s, enum_names) for s in rs.get("spans", [])]}]}
        if rs.get("resource") is not None:
            item["resource"] = {"attributes": _json_attrs(rs["resource"])}
        req["resourceSpans"].append(item)
    return json.dumps(req).encode()


def gzip(body):
    return _gzip.compress(body)


# ---- a shop trace like bin/tracegen's ---------------------------------------------------

def shop_trace(end_ns=None, duration_ns=120_000_000, error=False, service="checkout",
               payment="payment", namespace="shop"):
    """Two ResourceSpans (checkout, payment) of one trace: checkout server span with a
    postgres child (5-35%) and a payment client child (25-85%) calling the payment server
    span (27-83%) with its own postgres child (35-60%). IO share: checkout 0.8."""
    if end_ns is None:
        end_ns = now_ns()
    d = duration_ns
    s = end_ns - d
    tid = random_trace_id()
    root, db, call, psrv, pdb = (random_span_id() for _ in range(5))
    st = "error" if error else "ok"
    co = [span(tid, root, "POST /checkout", "server", s, end_ns, st,
               {"http.route": "/checkout", "http.response.status_code": 500 if error else 200}),
          span(tid, db, "SELECT orders", "client", s + d // 20, s + d * 7 // 20, "ok",
               {"db.system": "postgresql"}, parent=root),
          span(tid, call, "POST /pay", "client", s + d // 4, s + d * 17 // 20, st,
               {"server.address": payment}, parent=root)]
    pay = [span(tid, psrv, "POST /pay", "server", s + d * 27 // 100, s + d * 83 // 100, st,
                {"http.route": "/pay"}, parent=call),
           span(tid, pdb, "INSERT payments", "client", s + d * 35 // 100, s + d * 3 // 5, "ok",
                {"db.system": "postgresql"}, parent=psrv)]
    return [{"resource": {"service.name": service, "k8s.namespace.name": namespace},
             "spans": co},
            {"resource": {"service.name": payment, "k8s.namespace.name": namespace},
             "spans": pay}]


# ---- decoding (for checking what others send) -------------------------------------------

def _read_varint(b, i):
    shift = v = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def _fields(b):
    """Yields (field, wire_type, value) of one message; LEN values as bytes."""
    i = 0
    while i < len(b):
        key, i = _read_varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = _read_varint(b, i)
        elif w == 1:
            v = struct.unpack_from("<Q", b, i)[0]
            i += 8
        elif w == 2:
            n, i = _read_varint(b, i)
            if i + n > len(b):
                raise ValueError("length past end")
            v = bytes(b[i:i + n])
            i += n
        elif w == 5:
            v = struct.unpack_from("<I", b, i)[0]
            i += 4
        else:
            raise ValueError("wire type %d" % w)
        yield f, w, v


def _decode_any(b):
    for f, w, v in _fields(b):
        if f == 1:
            return v.decode()
        if f == 2:
            return bool(v)
        if f == 3:
            return v - (1 << 64) if v >= 1 << 63 else v
        if f == 4:
            return struct.unpack("<d", struct.pack("<Q", v))[0]
        if f == 7:
            return v
        if f == 5:
            return [_decode_any(x) for g, _, x in _fields(v) if g == 1]
        if f == 6:
            return dict(_decode_kv(x) for g, _, x in _fields(v) if g == 1)
    return None


def _decode_kv(b):
    k, val = "", None
    for f, w, v in _fields(b):
        if f == 1:
            k = v.decode()
        elif f == 2:
            val = _decode_any(v)
    return k, val


def decode_request(body):
    """The inverse of encode_request (scope names, events and links are dropped)."""
    out = []
    for f, _, rs in _fields(body):
        if f != 1:
            continue
        item = {"resource": {}, "spans": []}
        for g, _, v in _fields(rs):
            if g == 1:
                item["resource"].update(dict(_decode_kv(x) for h, _, x in _fields(v) if h == 1))
            elif g == 2:
                for h, _, sp in _fields(v):
                    if h == 2:
                        item["spans"].append(_decode_span(sp))
        out.append(item)
    return out


def _decode_span(b):
    s = {"trace_id": b"", "span_id": b"", "parent": None, "name": "", "kind": 0,
         "start_ns": 0, "end_ns": 0, "status": 0, "status_message": "", "attrs": {}}
    for f, w, v in _fields(b):
        if f == 1:
            s["trace_id"] = v
        elif f == 2:
            s["span_id"] = v
        elif f == 4:
            s["parent"] = v or None
        elif f == 5:
            s["name"] = v.decode()
        elif f == 6:
            s["kind"] = v
        elif f == 7:
            s["start_ns"] = v
        elif f == 8:
            s["end_ns"] = v
        elif f == 9:
            k, val = _decode_kv(v)
            s["attrs"][k] = val
        elif f == 15:
            for g, _, x in _fields(v):
                if g == 3:
                    s["status"] = x
                elif g == 2:
                    s["status_message"] = x.decode()
    return s


def decode_response(body, content_type):
    """ExportTraceServiceResponse or google.rpc.Status as a dict: {"rejected": n,
    "message": str} for a partial success ({} when empty), {"code": c, "message": m} for a
    Status. JSON bodies are parsed as JSON."""
    if content_type.startswith("application/json"):
        return json.loads(body)
    out = {}
    for f, w, v in _fields(body):
        if f == 1 and w == 2:  # partial_success
            for g, _, x in _fields(v):
                if g == 1:
                    out["rejected"] = x
                elif g == 2:
                    out["message"] = x.decode()
        elif f == 1 and w == 0:  # Status.code
            out["code"] = v
        elif f == 2 and w == 2:  # Status.message
            out["message"] = v.decode()
    return out
