#!/usr/bin/python3
"""fake_tempo.py — a fake Grafana Tempo query frontend for tests and benchmarks (stdlib only).

Serves the read API the adapter uses, with Tempo's real encodings (spec tempo-http-api §2.3:
jsonpb with int64 as strings, zero values omitted, base64 OTLP ids in traces, hex ids with
leading zeros stripped in search, enum names, PARTIAL), over an in-memory span data set:

  GET  /api/status/buildinfo, /ready, /api/echo
  GET  /api/metrics/query        instant TraceQL metrics
  GET  /api/metrics/query_range  range TraceQL metrics (explicit or default step)
  GET  /api/search               TraceQL search, `with (most_recent=true)`
  GET  /api/v2/traces/{id}       JSON or protobuf (Accept: application/protobuf)
  GET  /api/traces/{id}          v1: {"batches": …} or protobuf tempopb.Trace

The TraceQL the adapter renders is evaluated by an independent parser/evaluator of the subset
(spanset filters with && || ! and parentheses — equal precedence, left associative as in
Tempo —, comparisons, nil, attributes, intrinsics, durations, regexes; structural `>` and `>>`;
pipelines count_over_time, rate, sum/avg/min/max_over_time, quantile_over_time,
histogram_over_time, `by (...)`; hints `with (...)`).

Test control endpoints (never logged in the request log):
  POST   /_fake/spans     {"tenant": "t", "spans": [...], "replace": true}  (see load_spans)
  DELETE /_fake/spans
  POST   /_fake/config    {"version": "2.9.0", "multitenancy": true, "not_found": "empty", ...}
  POST   /_fake/faults    {"faults": [{"path": "/api/metrics", "count": 2, "kind": "status",
                           "status": 429, "body": "job queue full"}, ...]}  (see Fault)
  DELETE /_fake/faults
  GET    /_fake/requests  [{"method","path","query","headers","status","gzip"}, ...]
  DELETE /_fake/requests

Run standalone: fake_tempo.py --port 0 --port-file F [--data spans.json] [--tls-cert C
--tls-key K] [--version 2.9.0] [--multitenancy]. In-process: FakeTempo().start().
"""
import argparse
import base64
import gzip
import http.server
import json
import math
import os
import random
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse

# ---------------------------------------------------------------------------------------------
# TraceQL subset: lexer
# ---------------------------------------------------------------------------------------------

KINDS = ["unspecified", "internal", "server", "client", "producer", "consumer"]
STATUSES = ["unset", "ok", "error"]
DUR_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}
INTRINSICS = {"name", "kind", "status", "duration", "statusMessage", "span:name", "span:kind",
              "span:status", "span:duration", "span:statusMessage", "trace:duration",
              "traceDuration", "rootName", "rootServiceName", "trace:rootName",
              "trace:rootService"}
ATTR_STOP = set(" \t\r\n{}()=~!<>&|^,")


class TraceQLError(Exception):
    pass


class Tok:
    def __init__(self, kind, val, pos):
        self.kind = kind  # punct | op | ident | str | num | dur | eof
        self.val = val
        self.pos = pos

    def __repr__(self):
        return "Tok(%s,%r)" % (self.kind, self.val)


def _go_unquote(s, pos):
    """Decodes the body of a Go double-quoted string (escapes of strconv.Unquote)."""
    out = bytearray()
    i = 0
    b = s.encode("utf-8")
    while i < len(b):
        c = b[i]
        if c == 0x5C:  # backslash
            i += 1
            if i >= len(b):
                raise TraceQLError("col %d: bad escape" % pos)
            e = chr(b[i])
            simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92,
                      '"': 34}
            if e in simple:
                out.append(simple[e])
                i += 1
            elif e == "x":
                out.append(int(b[i + 1:i + 3].decode(), 16))
                i += 3
            elif e in "01234567":
                out.append(int(b[i:i + 3].decode(), 8))
                i += 3
            elif e == "u":
                out += chr(int(b[i + 1:i + 5].decode(), 16)).encode("utf-8")
                i += 5
            elif e == "U":
                out += chr(int(b[i + 1:i + 9].decode(), 16)).encode("utf-8")
                i += 9
            else:
                raise TraceQLError("col %d: invalid escape \\%s" % (pos, e))
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape")


def lex(text):
    toks = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        two = text[i:i + 2]
        three = text[i:i + 3]
        if three in ("!>>", "!<<", "&>>", "&<<"):
            toks.append(Tok("op", three, i))
            i += 3
            continue
        if two in ("&&", "||", "!=", "=~", "!~", ">=", "<=", ">>", "<<", "&>", "&<", "&~", "!>",
                   "!<"):
            toks.append(Tok("op", two, i))
            i += 2
            continue
        if c in "{}(),|":
            toks.append(Tok("punct", c, i))
            i += 1
            continue
        if c in "=<>!~":
            toks.append(Tok("op", c, i))
            i += 1
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                if j < n and text[j] == "\n":
                    raise TraceQLError("col %d: newline in string" % i)
                j += 1
            if j >= n:
                raise TraceQLError("col %d: unterminated string" % i)
            toks.append(Tok("str", _go_unquote(text[i + 1:j], i), i))
            i = j + 1
            continue
        if c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise TraceQLError("col %d: unterminated raw string" % i)
            toks.append(Tok("str", text[i + 1:j], i))
            i = j + 1
            continue
        if c.isdigit() or (c == "-" and i + 1 < n and (text[i + 1].isdigit() or
                                                       text[i + 1] == ".")) or \
                (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?").match(text, i)
            numtext = m.group(0)
            j = m.end()
            um = re.compile(r"(ns|us|µs|ms|s|m|h|d|w)").match(text, j)
            if um and "e" not in numtext.lower():
                # a duration, possibly compound (1h30m)
                total = 0
                k = i
                neg = numtext.startswith("-")
                dm = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h|d|w)")
                if neg:
                    k += 1
                while True:
                    mm = dm.match(text, k)
                    if not mm:
                        break
                    total += float(mm.group(1)) * DUR_UNITS[mm.group(2)] if "." in mm.group(1) \
                        else int(mm.group(1)) * DUR_UNITS[mm.group(2)]
                    k = mm.end()
                toks.append(Tok("dur", int(round(-total if neg else total)), i))
                i = k
                continue
            if "." in numtext or "e" in numtext.lower():
                toks.append(Tok("num", float(numtext), i))
            else:
                toks.append(Tok("num", int(numtext), i))
            i = j
            continue
        # identifiers and attributes (span.x, resource."quoted name", .x, span:name)
        j = i
        while j < n and text[j] not in ATTR_STOP:
            if text[j] == '"':
                # quoted attribute name part
                k = j + 1
                while k < n and text[k] != '"':
                    if text[k] == "\\":
                        k += 1
                    k += 1
                j = k + 1
                continue
            j += 1
        if j == i:
            raise TraceQLError("col %d: unexpected character %r" % (i, c))
        toks.append(Tok("ident", text[i:j], i))
        i = j
    toks.append(Tok("eof", None, n))
    return toks


def _attr_name(raw):
    """span.x / resource."a b" / .x / intrinsic -> (scope, name)."""
    if raw in INTRINSICS:
        return ("intrinsic", raw.split(":")[-1] if raw.startswith("span:") else raw)
    for scope in ("span", "resource", "event", "link", "instrumentation"):
        if raw.startswith(scope + "."):
            rest = raw[len(scope) + 1:]
            return (scope, _unquote_attr(rest))
    if raw.startswith("."):
        return ("any", _unquote_attr(raw[1:]))
    return None


def _unquote_attr(rest):
    if rest.startswith('"') and rest.endswith('"') and len(rest) >= 2:
        body = rest[1:-1]
        return re.sub(r'\\(["\\])', r"\1", body)
    return rest


# ---------------------------------------------------------------------------------------------
# TraceQL subset: parser
# ---------------------------------------------------------------------------------------------

class Parser:
    def __init__(self, text):
        self.toks = lex(text)
        self.i = 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, kind, val=None):
        t = self.take()
        if t.kind != kind or (val is not None and t.val != val):
            raise TraceQLError("col %d: expected %s, got %r" % (t.pos, val or kind, t.val))
        return t

    def at(self, kind, val=None):
        t = self.peek()
        return t.kind == kind and (val is None or t.val == val)

    # query := spanset_expr ( '|' stage )* [ 'with' '(' hints ')' ]
    def query(self):
        expr = self.spanset_expr()
        stages = []
        while self.at("punct", "|"):
            self.take()
            stages.append(self.stage())
        hints = {}
        if self.at("ident", "with"):
            self.take()
            self.expect("punct", "(")
            while not self.at("punct", ")"):
                k = self.expect("ident").val
                self.expect("op", "=")
                v = self.take().val
                if v in ("true", "false"):
                    v = v == "true"
                hints[k] = v
                if self.at("punct", ","):
                    self.take()
            self.expect("punct", ")")
        if not self.at("eof"):
            raise TraceQLError("col %d: unexpected %r" % (self.peek().pos, self.peek().val))
        return {"expr": expr, "stages": stages, "hints": hints}

    def spanset_expr(self):
        left = self.spanset_primary()
        while self.at("op") and self.peek().val in (">", ">>", "<", "<<", "~", "&&", "||"):
            op = self.take().val
            right = self.spanset_primary()
            left = ("struct", op, left, right)
        return left

    def spanset_primary(self):
        if self.at("punct", "("):
            self.take()
            e = self.spanset_expr()
            self.expect("punct", ")")
            return e
        self.expect("punct", "{")
        if self.at("punct", "}"):
            self.take()
            return ("filter", ("bool", True))
        e = self.expr()
        self.expect("punct", "}")
        return ("filter", e)

    # Tempo: && and || share one precedence level and associate left.
    def expr(self):
        left = self.unary()
        while self.at("op", "&&") or self.at("op", "||"):
            op = self.take().val
            right = self.unary()
            left = ("and" if op == "&&" else "or", left, right)
        return left

    def unary(self):
        if self.at("op", "!"):
            self.take()
            return ("not", self.unary())
        if self.at("punct", "("):
            self.take()
            e = self.expr()
            self.expect("punct", ")")
            return e
        return self.comparison()

    def literal(self):
        t = self.take()
        if t.kind == "str":
            return ("str", t.val)
        if t.kind == "num":
            return ("int", t.val) if isinstance(t.val, int) else ("float", t.val)
        if t.kind == "dur":
            return ("dur", t.val)
        if t.kind == "ident":
            if t.val in ("true", "false"):
                return ("bool", t.val == "true")
            if t.val == "nil":
                return ("nil", None)
            if t.val in KINDS:
                return ("kind", t.val)
            if t.val in STATUSES:
                return ("status", t.val)
            if t.val in ("minInt", "maxInt"):
                return ("int", -(2 ** 63) if t.val == "minInt" else 2 ** 63 - 1)
        raise TraceQLError("col %d: expected a literal, got %r" % (t.pos, t.val))

    def comparison(self):
        t = self.take()
        if t.kind == "ident" and t.val in ("true", "false"):
            return ("bool", t.val == "true")
        if t.kind != "ident":
            raise TraceQLError("col %d: expected an attribute, got %r" % (t.pos, t.val))
        attr = _attr_name(t.val)
        if attr is None:
            raise TraceQLError("col %d: unknown attribute %r" % (t.pos, t.val))
        if not (self.at("op") and self.peek().val in ("=", "!=", "<", "<=", ">", ">=", "=~",
                                                      "!~")):
            return ("exists", attr)
        op = self.take().val
        lit = self.literal()
        if lit[0] == "nil" and attr[0] == "intrinsic":
            raise TraceQLError("invalid TraceQL query: nil comparison on an intrinsic")
        if lit[0] == "nil" and attr == ("resource", "service.name"):
            raise TraceQLError("invalid TraceQL query: nil comparison on resource.service.name")
        if op in ("=~", "!~"):
            if lit[0] != "str":
                raise TraceQLError("regex needs a string")
            lit = ("re", re.compile(lit[1], re.S))
        return ("cmp", attr, op, lit)

    def stage(self):
        name = self.expect("ident").val
        self.expect("punct", "(")
        args = []
        while not self.at("punct", ")"):
            t = self.take()
            if t.kind == "ident":
                args.append(_attr_name(t.val) or t.val)
            else:
                args.append(t.val)
            if self.at("punct", ","):
                self.take()
        self.expect("punct", ")")
        by = []
        if self.at("ident", "by"):
            self.take()
            self.expect("punct", "(")
            while not self.at("punct", ")"):
                t = self.expect("ident")
                by.append((t.val, _attr_name(t.val)))
                if self.at("punct", ","):
                    self.take()
            self.expect("punct", ")")
        return {"fn": name, "args": args, "by": by}


def parse_query(text):
    return Parser(text).query()


# ---------------------------------------------------------------------------------------------
# TraceQL subset: evaluation on spans
# ---------------------------------------------------------------------------------------------

def attr_value(span, attr):
    """(found, value) for an attribute reference on a span."""
    scope, name = attr
    if scope == "intrinsic":
        if name == "name":
            return True, ("str", span["name"])
        if name == "kind":
            return True, ("kind", span["kind"])
        if name == "status":
            return True, ("status", span["status"])
        if name == "duration":
            return True, ("dur", span["end_ns"] - span["start_ns"])
        if name == "statusMessage":
            return True, ("str", span.get("status_message", ""))
        return False, None
    if scope == "span":
        d = span["attrs"]
        if name in d:
            return True, typed(d[name])
        return False, None
    if scope == "resource":
        d = span["resource"]
        if name in d:
            return True, typed(d[name])
        return False, None
    if scope == "any":
        if name in span["attrs"]:
            return True, typed(span["attrs"][name])
        if name in span["resource"]:
            return True, typed(span["resource"][name])
        return False, None
    return False, None


def typed(v):
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", v)
    return ("str", v)


def compare(op, a, b):
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise TraceQLError("bad operator " + op)


def eval_cmp(span, attr, op, lit):
    found, val = attr_value(span, attr)
    if lit[0] == "nil":
        if op == "=":
            return not found
        if op == "!=":
            return found
        return False
    if not found:
        return False
    vt, vv = val
    lt, lv = lit
    if lt == "re":
        if vt != "str":
            return False
        m = lv.fullmatch(vv) is not None
        return m if op == "=~" else not m
    numeric = ("int", "float", "dur")
    if vt in numeric and lt in numeric:
        if (vt == "dur") != (lt == "dur"):
            # durations compare with durations; a number compared with a duration: Tempo
            # treats both as numbers of nanoseconds
            pass
        return compare(op, vv, lv)
    if vt != lt:
        return False
    if vt in ("bool", "kind", "status") and op not in ("=", "!="):
        return False
    return compare(op, vv, lv)


def eval_expr(span, e):
    t = e[0]
    if t == "and":
        return eval_expr(span, e[1]) and eval_expr(span, e[2])
    if t == "or":
        return eval_expr(span, e[1]) or eval_expr(span, e[2])
    if t == "not":
        return not eval_expr(span, e[1])
    if t == "bool":
        return e[1]
    if t == "exists":
        return attr_value(span, e[1])[0]
    if t == "cmp":
        return eval_cmp(span, e[1], e[2], e[3])
    raise TraceQLError("bad node " + repr(t))


def select_spans(store, expr, in_window):
    """The spans a spanset expression yields; in_window(span) restricts the returned spans."""
    t = expr[0]
    if t == "filter":
        return [s for s in store.spans if in_window(s) and eval_expr(s, expr[1])]
    if t == "struct":
        op, left, right = expr[1], expr[2], expr[3]
        lefts = select_spans(store, left, lambda s: True)
        rights = select_spans(store, right, in_window)
        if op in ("&&", "||"):
            ltr = {s["trace_id"] for s in lefts}
            rtr = {s["trace_id"] for s in rights}
            if op == "&&":
                keep = ltr & rtr
                return [s for s in lefts + rights if s["trace_id"] in keep and in_window(s)]
            return [s for s in lefts + rights if in_window(s)]
        lkeys = {(s["trace_id"], s["span_id"]) for s in lefts}
        out = []
        for s in rights:
            if op == ">":
                if (s["trace_id"], s["parent_span_id"]) in lkeys:
                    out.append(s)
            elif op == ">>":
                p = store.parent_of(s)
                seen = 0
                while p is not None and seen < 10000:
                    if (p["trace_id"], p["span_id"]) in lkeys:
                        out.append(s)
                        break
                    p = store.parent_of(p)
                    seen += 1
            elif op == "<":
                # B is the direct parent of an A span
                if any(c for c in lefts if c["trace_id"] == s["trace_id"] and
                       c["parent_span_id"] == s["span_id"]):
                    out.append(s)
            else:
                raise TraceQLError("structural operator %s is not supported by the fake" % op)
        return out
    raise TraceQLError("bad spanset expression")


# ---------------------------------------------------------------------------------------------
# data set
# ---------------------------------------------------------------------------------------------

class Store:
    def __init__(self):
        self.spans = []
        self.by_id = {}

    def add(self, spans):
        for s in spans:
            self.spans.append(s)
            self.by_id[(s["trace_id"], s["span_id"])] = s

    def parent_of(self, s):
        if not s["parent_span_id"] or s["parent_span_id"] == b"\0" * 8:
            return None
        return self.by_id.get((s["trace_id"], s["parent_span_id"]))

    def trace(self, trace_id):
        return [s for s in self.spans if s["trace_id"] == trace_id]


def _hex_id(h, n):
    h = h or ""
    if h == "":
        return b""
    b = bytes.fromhex(h.rjust(2 * n, "0"))
    if len(b) != n:
        raise ValueError("id %r is not %d bytes" % (h, n))
    return b


def load_spans(items):
    """Spans from test JSON: trace_id (hex), span_id (hex), parent_span_id (hex or ""), name,
    kind (server|client|…), status (unset|ok|error), start_ns, end_ns or duration_ns, attrs,
    resource (dicts of str/int/float/bool)."""
    out = []
    for it in items:
        start = int(it["start_ns"])
        end = int(it["end_ns"]) if "end_ns" in it else start + int(it["duration_ns"])
        out.append({
            "trace_id": _hex_id(it["trace_id"], 16),
            "span_id": _hex_id(it["span_id"], 8),
            "parent_span_id": _hex_id(it.get("parent_span_id", ""), 8),
            "name": it.get("name", ""),
            "kind": it.get("kind", "unspecified"),
            "status": it.get("status", "unset"),
            "status_message": it.get("status_message", ""),
            "start_ns": start,
            "end_ns": end,
            "attrs": dict(it.get("attrs", {})),
            "resource": dict(it.get("resource", {})),
        })
    return out


# ---------------------------------------------------------------------------------------------
# encodings
# ---------------------------------------------------------------------------------------------

def any_value_json(v):
    if isinstance(v, bool):
        return {"boolValue": v} if v else {"boolValue": False}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        if math.isnan(v):
            return {"doubleValue": "NaN"}
        if math.isinf(v):
            return {"doubleValue": "Infinity" if v > 0 else "-Infinity"}
        return {"doubleValue": v}
    return {"stringValue": v}


def kv_json(d):
    return [{"key": k, "value": any_value_json(v)} for k, v in d.items()]


def json_number(v):
    """A double as Go's encoding/json writes it: integral values without ".0"; NaN and
    infinities as jsonpb strings."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return int(v)
    return v


def group_resource_spans(spans):
    groups = {}
    order = []
    for s in spans:
        key = json.dumps(s["resource"], sort_keys=True)
        if key not in groups:
            groups[key] = (s["resource"], [])
            order.append(key)
        groups[key][1].append(s)
    return [groups[k] for k in order]


def span_json(s):
    d = {"traceId": base64.b64encode(s["trace_id"]).decode(),
         "spanId": base64.b64encode(s["span_id"]).decode()}
    if s["parent_span_id"]:
        d["parentSpanId"] = base64.b64encode(s["parent_span_id"]).decode()
    if s["name"]:
        d["name"] = s["name"]
    k = KINDS.index(s["kind"])
    if k:
        d["kind"] = "SPAN_KIND_" + s["kind"].upper()
    d["startTimeUnixNano"] = str(s["start_ns"])
    d["endTimeUnixNano"] = str(s["end_ns"])
    if s["attrs"]:
        d["attributes"] = kv_json(s["attrs"])
    st = {}
    if s["status"] != "unset":
        st["code"] = "STATUS_CODE_" + s["status"].upper()
    if s.get("status_message"):
        st["message"] = s["status_message"]
    d["status"] = st
    return d


def trace_json_obj(spans):
    rs = []
    for res, group in group_resource_spans(spans):
        r = {"resource": {"attributes": kv_json(res)} if res else {},
             "scopeSpans": [{"scope": {"name": "fake-tempo"},
                             "spans": [span_json(s) for s in group]}]}
        rs.append(r)
    return rs


# protobuf
def pb_varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_tag(field, wt):
    return pb_varint((field << 3) | wt)


def pb_len(field, data):
    return pb_tag(field, 2) + pb_varint(len(data)) + data


def pb_str(field, s):
    return pb_len(field, s.encode("utf-8", "surrogateescape"))


def pb_any(v):
    if isinstance(v, bool):
        return pb_tag(2, 0) + pb_varint(1 if v else 0)
    if isinstance(v, int):
        return pb_tag(3, 0) + pb_varint(v)
    if isinstance(v, float):
        return pb_tag(4, 1) + struct.pack("<d", v)
    return pb_str(1, v)


def pb_kv(k, v):
    return pb_str(1, k) + pb_len(2, pb_any(v))


def pb_span(s):
    out = pb_len(1, s["trace_id"]) + pb_len(2, s["span_id"])
    if s["parent_span_id"]:
        out += pb_len(4, s["parent_span_id"])
    if s["name"]:
        out += pb_str(5, s["name"])
    k = KINDS.index(s["kind"])
    if k:
        out += pb_tag(6, 0) + pb_varint(k)
    out += pb_tag(7, 1) + struct.pack("<Q", s["start_ns"])
    out += pb_tag(8, 1) + struct.pack("<Q", s["end_ns"])
    for key, v in s["attrs"].items():
        out += pb_len(9, pb_kv(key, v))
    st = b""
    if s.get("status_message"):
        st += pb_str(2, s["status_message"])
    code = STATUSES.index(s["status"])
    if code:
        st += pb_tag(3, 0) + pb_varint(code)
    out += pb_len(15, st)
    return out


def pb_trace(spans):
    out = b""
    for res, group in group_resource_spans(spans):
        resource = b"".join(pb_len(1, pb_kv(k, v)) for k, v in res.items())
        scope = pb_str(1, "fake-tempo")
        ss = pb_len(1, scope) + b"".join(pb_len(2, pb_span(s)) for s in group)
        out += pb_len(1, pb_len(1, resource) + pb_len(2, ss))
    return out


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------

def log2_bucket(v):
    """Tempo's Log2Bucketize: the next power of two, values < 2 dropped (None)."""
    if v < 2:
        return None
    return 1 << (v - 1).bit_length()


def log2_quantile(buckets, p):
    """Tempo's Log2Quantile over [(upper, count)] sorted ascending (spec §7.3)."""
    buckets = [(b, c) for b, c in sorted(buckets) if c > 0]
    n = sum(c for _, c in buckets)
    if n == 0:
        return 0.0
    target = max(1, math.ceil(p * n))
    before = 0
    for i, (b, c) in enumerate(buckets):
        total = before + c
        if total == target:
            return float(b)
        if total > target:
            f = (target - before) / c
            prev = buckets[i - 1][0] if i > 0 else b / 2
            return 2 ** (math.log2(prev) + (math.log2(b) - math.log2(prev)) * f)
        before = total
    return float(buckets[-1][0])


def label_json(key, v):
    if v is None:
        return {"key": key, "value": {"stringValue": "nil"}}
    t, val = v
    if t in ("kind", "status"):
        return {"key": key, "value": {"stringValue": val}}
    if t == "dur":
        return {"key": key, "value": {"intValue": str(val)}}
    return {"key": key, "value": any_value_json(val)}


def attr_num(span, attr):
    """Numeric value of an attribute (duration in seconds), or None."""
    found, v = attr_value(span, attr)
    if not found:
        return None
    t, val = v
    if t == "dur":
        return val / 1e9
    if t in ("int", "float"):
        return float(val)
    return None


def run_metrics(q, spans, window_s):
    """[(labels, value)] for one interval. q is a parsed query with one metrics stage."""
    stages = q["stages"]
    if not stages:
        raise TraceQLError("a metrics query needs a pipeline function")
    st = stages[-1]
    fn = st["fn"]
    by = st["by"]
    if len(by) > 5:
        raise TraceQLError("too many by() attributes")
    groups = {}
    for s in spans:
        if by:
            vals = []
            for text, attr in by:
                f, v = attr_value(s, attr)
                vals.append(v if f else None)
            key = tuple(vals)
        else:
            key = ()
        groups.setdefault(key, []).append(s)

    def labels_for(key):
        if not by:
            return [{"key": "__name__", "value": {"stringValue": fn}}]
        ls = [label_json(text, v) for (text, _), v in zip(by, key) if v is not None]
        if not ls:
            ls = [{"key": by[0][0], "value": {"stringValue": "nil"}}]
        return ls

    out = []
    for key, group in groups.items():
        base = labels_for(key) if by else []
        if fn == "count_over_time":
            out.append((labels_for(key), float(len(group))))
        elif fn == "rate":
            out.append((labels_for(key), len(group) / window_s))
        elif fn in ("sum_over_time", "avg_over_time", "min_over_time", "max_over_time"):
            attr = st["args"][0]
            vals = [x for x in (attr_num(s, attr) for s in group) if x is not None]
            if not vals:
                continue
            v = {"sum_over_time": sum, "min_over_time": min, "max_over_time": max,
                 "avg_over_time": lambda a: sum(a) / len(a)}[fn](vals)
            out.append((labels_for(key), v))
        elif fn == "quantile_over_time":
            attr = st["args"][0]
            qs = st["args"][1:]
            hist = {}
            for s in group:
                found, v = attr_value(s, attr)
                if not found or v[0] not in ("dur", "int"):
                    continue
                b = log2_bucket(v[1])
                if b is not None:
                    hist[b] = hist.get(b, 0) + 1
            if not hist:
                continue
            for p in qs:
                p = float(p)
                if not 0 <= p <= 1:
                    raise TraceQLError("quantile must be between 0 and 1")
                v = log2_quantile(list(hist.items()), p)
                if attr == ("intrinsic", "duration"):
                    v = v / 1e9
                out.append((base + [{"key": "p", "value": {"doubleValue": p}}], v))
        elif fn == "histogram_over_time":
            attr = st["args"][0]
            hist = {}
            for s in group:
                found, v = attr_value(s, attr)
                if not found or v[0] not in ("dur", "int"):
                    continue
                b = log2_bucket(v[1])
                if b is not None:
                    hist[b] = hist.get(b, 0) + 1
            for b in sorted(hist):
                bound = b / 1e9 if attr == ("intrinsic", "duration") else float(b)
                out.append((base + [{"key": "__bucket", "value": {"doubleValue": bound}}],
                            float(hist[b])))
        else:
            raise TraceQLError("function %s is not supported by the fake" % fn)
    return out


def parse_time(s, name):
    if s is None:
        return None
    if re.fullmatch(r"\d+", s):
        v = int(s)
        return v * 10**9 if len(s) <= 10 else v
    if re.fullmatch(r"\d+\.\d*", s):
        return int(round(float(s) * 1000)) * 10**6
    raise ValueError("invalid %s: %s" % (name, s))


def parse_step(s):
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return int(round(float(s) * 1e9))
    total = 0
    for num, unit in re.findall(r"(\d+\.?\d*)(ns|us|µs|ms|s|m|h)", s):
        total += float(num) * DUR_UNITS[unit]
    if total <= 0:
        raise ValueError("invalid step")
    return int(total)


# ---------------------------------------------------------------------------------------------
# faults
# ---------------------------------------------------------------------------------------------

class Fault:
    """One injected failure: applies to the next `count` requests whose path matches `path`
    (a regex searched in the path; default all API paths); count -1 = until cleared.
    kind: delay (delay_s, then answer normally) | status (status, body: plain text) | garbage
    (200, non-JSON) | truncated (Content-Length larger than what is sent, then the connection
    closes) | truncated_json (a valid-length body cut in the middle of the JSON) | huge
    (200 with size_mb MiB, default 20) | reset (connection closed without an answer) |
    partial (the normal answer with status PARTIAL)."""

    def __init__(self, d):
        self.path = re.compile(d.get("path", "^/api/"))
        self.count = int(d.get("count", 1))
        self.kind = d["kind"]
        self.status = int(d.get("status", 503))
        self.body = d.get("body", "")
        self.delay_s = float(d.get("delay_s", 0))
        self.size_mb = int(d.get("size_mb", 20))
        self.message = d.get("message", "fake partial response")


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.stores = {}  # tenant -> Store
        self.config = {"version": "2.9.0", "revision": "fake", "branch": "HEAD",
                       "multitenancy": False, "protobuf": True, "not_found": "404",
                       "buildinfo_status": 200, "empty_count_series": False,
                       "gzip_min": 1024, "seed": 1}
        self.faults = []
        self.requests = []
        self.rng = random.Random(1)

    def store(self, tenant):
        with self.lock:
            if tenant not in self.stores:
                self.stores[tenant] = Store()
            return self.stores[tenant]

    def next_fault(self, path):
        with self.lock:
            for f in self.faults:
                if f.count != 0 and f.path.search(path):
                    if f.count > 0:
                        f.count -= 1
                    return f
        return None


class HTTPError(Exception):
    def __init__(self, status, body):
        Exception.__init__(self, body)
        self.status = status
        self.body = body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-tempo"
    disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms delayed ACK)
    wbufsize = 1 << 16

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_TEMPO_VERBOSE"):
            sys.stderr.write("fake-tempo: " + (fmt % args) + "\n")

    @property
    def st(self):
        return self.server.state

    # -- plumbing ---------------------------------------------------------------------------
    def send_body(self, status, body, ctype="application/json", log=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        gz = False
        if ("gzip" in self.headers.get("Accept-Encoding", "") and
                len(body) >= self.st.config.get("gzip_min", 1024)):
            body = gzip.compress(body)
            gz = True
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if log is not None:
            log["status"] = status
            log["gzip"] = gz

    def read_json(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n) if n else b"{}"
        return json.loads(data or b"{}")

    def tenant(self):
        org = self.headers.get("X-Scope-OrgID")
        if not self.st.config["multitenancy"]:
            return ["single-tenant"]
        if not org:
            raise HTTPError(401, "no org id")
        if len(org) > 150 or not re.fullmatch(r"[A-Za-z0-9!\-_.*'()|]+", org) or \
                org in (".", ".."):
            raise HTTPError(400, "unsupported character in tenant ID")
        return sorted(set(org.split("|")))

    def merged_store(self):
        tenants = self.tenant()
        if len(tenants) == 1:
            return self.st.store(tenants[0])
        m = Store()
        for t in tenants:
            m.add(self.st.store(t).spans)
        return m

    # -- control ----------------------------------------------------------------------------
    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        try:
            d = self.read_json()
        except ValueError as e:
            return self.send_body(400, "bad json: %s" % e, "text/plain")
        if u.path == "/_fake/spans":
            spans = load_spans(d.get("spans", []))
            tenant = d.get("tenant", "single-tenant")
            with self.st.lock:
                if d.get("replace"):
                    self.st.stores[tenant] = Store()
                store = self.st.stores.setdefault(tenant, Store())
                store.add(spans)
            return self.send_body(200, json.dumps({"spans": len(spans)}))
        if u.path == "/_fake/config":
            with self.st.lock:
                self.st.config.update(d)
            return self.send_body(200, json.dumps(self.st.config))
        if u.path == "/_fake/faults":
            with self.st.lock:
                if d.get("replace", True):
                    self.st.faults = []
                self.st.faults += [Fault(f) for f in d.get("faults", [])]
            return self.send_body(200, "{}")
        return self.send_body(404, "404 page not found\n", "text/plain")

    def do_DELETE(self):
        u = urllib.parse.urlsplit(self.path)
        with self.st.lock:
            if u.path == "/_fake/spans":
                self.st.stores = {}
            elif u.path == "/_fake/faults":
                self.st.faults = []
            elif u.path == "/_fake/requests":
                self.st.requests = []
            else:
                return self.send_body(404, "404 page not found\n", "text/plain")
        return self.send_body(200, "{}")

    # -- API --------------------------------------------------------------------------------
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/_fake/requests":
            with self.st.lock:
                data = json.dumps(self.st.requests)
            return self.send_body(200, data)
        query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        log = {"method": "GET", "path": u.path, "query": query,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "time": time.time(), "status": 0, "gzip": False}
        with self.st.lock:
            self.st.requests.append(log)
        fault = self.st.next_fault(u.path)
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.delay_s)
            elif fault.kind == "status":
                return self.send_body(fault.status, fault.body, "text/plain", log)
            elif fault.kind == "garbage":
                return self.send_body(200, "<html>this is not json {{{", "application/json", log)
            elif fault.kind == "reset":
                log["status"] = -1
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                except OSError:
                    pass
                return
            elif fault.kind == "truncated":
                log["status"] = 200
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b'{"series":[{"labels":[')
                self.wfile.flush()
                self.close_connection = True
                return
            elif fault.kind == "huge":
                log["status"] = 200
                size = fault.size_mb << 20
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(size + 2))
                self.end_headers()
                try:
                    self.wfile.write(b'["')
                    chunk = b"x" * 65536
                    sent = 0
                    while sent < size:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:
                    pass
                self.close_connection = True
                return
        try:
            status, body, ctype = self.route(u.path, query, fault)
        except HTTPError as e:
            return self.send_body(e.status, e.body, "text/plain", log)
        except TraceQLError as e:
            msg = str(e)
            if not msg.startswith("invalid TraceQL query"):
                msg = "invalid TraceQL query: parse error: " + msg
            return self.send_body(400, msg, "text/plain", log)
        except ValueError as e:
            return self.send_body(400, str(e), "text/plain", log)
        if fault is not None and fault.kind == "truncated_json" and isinstance(body, str):
            body = body[:max(1, len(body) // 2)]
        return self.send_body(status, body, ctype, log)

    def route(self, path, q, fault):
        cfg = self.st.config
        if path == "/ready":
            return 200, "ready", "text/plain"
        if path == "/api/echo":
            return 200, "echo", "text/plain"
        if path == "/api/status/buildinfo":
            if cfg["buildinfo_status"] != 200:
                raise HTTPError(cfg["buildinfo_status"], "buildinfo unavailable")
            return 200, json.dumps({"version": cfg["version"], "revision": cfg["revision"],
                                    "branch": cfg["branch"], "buildUser": "fake",
                                    "buildDate": "2026-01-01", "goVersion": "go1.25"}), \
                "application/json"
        partial = fault is not None and fault.kind == "partial"
        if path == "/api/metrics/query":
            return self.metrics(q, True, partial, fault)
        if path == "/api/metrics/query_range":
            return self.metrics(q, False, partial, fault)
        if path == "/api/search":
            return self.search(q)
        m = re.fullmatch(r"/api/(v2/)?traces/([^/]*)", path)
        if m:
            return self.trace_by_id(m.group(2), bool(m.group(1)), partial, fault)
        raise HTTPError(404, "404 page not found\n")

    def window(self, q, metrics=True):
        start = parse_time(q.get("start"), "start")
        end = parse_time(q.get("end"), "end")
        now = time.time_ns()
        if end is None:
            end = now
        if start is None:
            since = q.get("since", "1h")
            start = end - parse_step(since)
        if start >= end:
            raise HTTPError(400, "end must be greater than start")
        return start, end

    def metrics(self, q, instant, partial, fault):
        text = q.get("q") or q.get("query")
        if not text:
            raise HTTPError(400, "invalid TraceQL query: empty query")
        if len(text) > 128 * 1024:
            raise HTTPError(400, "TraceQL expression exceeds the configured maximum size of "
                                 "131072 bytes")
        parsed = parse_query(text)
        store = self.merged_store()
        start, end = self.window(q)
        max_dur = 24 * 3600 * 10**9 if self.version_at_least(3, 0) else 3 * 3600 * 10**9
        if end - start > max_dur:
            raise HTTPError(400, "metrics query time range exceeds the maximum allowed duration "
                                 "of %dh0m0s" % (max_dur // 3600 // 10**9))
        fn = parsed["stages"][-1]["fn"] if parsed["stages"] else ""
        if fn in ("avg_over_time", "min_over_time", "max_over_time") and \
                not self.version_at_least(2, 7):
            raise TraceQLError("parse error: unknown function " + fn)
        if fn == "sum_over_time" and not self.version_at_least(2, 8):
            raise TraceQLError("parse error: unknown function " + fn)
        res = {}
        if instant:
            spans = select_spans(store, parsed["expr"],
                                 lambda s: start <= s["start_ns"] < end)
            rows = run_metrics(parsed, spans, (end - start) / 1e9)
            series = []
            for labels, v in rows:
                ser = {"labels": labels}
                if v != 0:
                    ser["value"] = json_number(v)
                series.append(ser)
            if not rows and fn == "count_over_time" and self.st.config["empty_count_series"]:
                series.append({"labels": [{"key": "__name__",
                                           "value": {"stringValue": fn}}]})
            if series:
                res["series"] = series
        else:
            if "step" in q:
                step = parse_step(q["step"])
                if step <= 0:
                    raise HTTPError(400, "step must be positive")
            else:
                step = max(10**9, (end - start) // 240)
            if (end - start) / step > 10000:
                raise HTTPError(400, "step of %dms is too small" % (step // 10**6))
            acc = {}
            t = start
            while t < end:
                t2 = min(t + step, end)
                spans = select_spans(store, parsed["expr"],
                                     lambda s, a=t, b=t2: a <= s["start_ns"] < b)
                for labels, v in run_metrics(parsed, spans, step / 1e9):
                    key = json.dumps(labels, sort_keys=True)
                    e = acc.setdefault(key, {"labels": labels, "samples": []})
                    smp = {"timestampMs": str(t2 // 10**6)}
                    if v != 0:
                        smp["value"] = json_number(v)
                    e["samples"].append(smp)
                t = t2
            if acc:
                res["series"] = list(acc.values())
        res["metrics"] = {"inspectedBytes": "1048576", "completedJobs": 1, "totalJobs": 1}
        if partial:
            res["status"] = "PARTIAL"
            res["message"] = fault.message
        return 200, json.dumps(res), "application/json"

    def version_at_least(self, major, minor):
        m = re.match(r"v?(\d+)\.(\d+)", str(self.st.config["version"]))
        if not m:
            return True
        return (int(m.group(1)), int(m.group(2))) >= (major, minor)

    def search(self, q):
        text = q.get("q")
        if "tags" in q and text:
            raise HTTPError(400, "invalid request: can't specify tags and q in the same query")
        if not text:
            raise HTTPError(400, "invalid TraceQL query: empty query")
        limit = int(q.get("limit", "20"))
        if limit <= 0:
            raise HTTPError(400, "invalid limit: must be a positive number")
        spss = int(q.get("spss", "3"))
        if spss > 100:
            raise HTTPError(400, "spans per span set exceeds 100. received %d" % spss)
        if ("start" in q) != ("end" in q):
            raise HTTPError(400, "error parsing date range: only one of start and end provided")
        if "start" in q:
            start, end = int(q["start"]), int(q["end"])
            if start >= end:
                raise HTTPError(400, "http parameter start must be before end. received "
                                     "start=%d end=%d" % (start, end))
            if end - start > 168 * 3600:
                raise HTTPError(400, "range specified by start and end exceeds 168h0m0s")
        else:
            end = time.time_ns() // 10**9
            start = end - 900
        parsed = parse_query(text)
        if parsed["hints"].get("most_recent") and not self.version_at_least(2, 8):
            raise TraceQLError("parse error: unknown hint most_recent")
        store = self.merged_store()
        lo, hi = start * 10**9, end * 10**9
        spans = select_spans(store, parsed["expr"], lambda s: lo <= s["start_ns"] <= hi)
        traces = {}
        for s in spans:
            traces.setdefault(s["trace_id"], []).append(s)
        items = []
        for tid, matched in traces.items():
            all_spans = store.trace(tid)
            tstart = min(s["start_ns"] for s in all_spans)
            tend = max(s["end_ns"] for s in all_spans)
            roots = [s for s in all_spans if store.parent_of(s) is None]
            root = min(roots, key=lambda s: s["start_ns"]) if roots else None
            hexid = tid.hex().lstrip("0") or "0"
            d = {"traceID": hexid,
                 "rootServiceName": root["resource"].get("service.name", "")
                 if root else "<root span not yet received>",
                 "startTimeUnixNano": str(tstart)}
            if root and root["name"]:
                d["rootTraceName"] = root["name"]
            dur_ms = (tend - tstart) // 10**6
            if dur_ms:
                d["durationMs"] = dur_ms
            shown = matched[:spss] if spss > 0 else matched
            ss = {"spans": [{"spanID": s["span_id"].hex(),
                             "startTimeUnixNano": str(s["start_ns"]),
                             "durationNanos": str(s["end_ns"] - s["start_ns"])}
                            for s in shown],
                  "matched": len(matched)}
            d["spanSet"] = ss
            d["spanSets"] = [ss]
            items.append((tstart, d))
        if parsed["hints"].get("most_recent"):
            items.sort(key=lambda x: -x[0])
        else:
            with self.st.lock:
                self.st.rng.shuffle(items)
        items = [d for _, d in items[:limit]]
        res = {}
        if items:
            res["traces"] = items
        res["metrics"] = {"inspectedTraces": len(traces), "inspectedBytes": "1000",
                          "completedJobs": 1, "totalJobs": 1}
        return 200, json.dumps(res), "application/json"

    def trace_by_id(self, idtext, v2, partial, fault):
        if not re.fullmatch(r"[0-9a-fA-F]{1,32}", idtext or "x"):
            if len(idtext) > 32:
                raise HTTPError(400, "trace IDs can't be larger than 128 bits")
            raise HTTPError(400, "trace IDs can only contain hex characters")
        tid = bytes.fromhex(idtext.rjust(32, "0"))
        spans = self.merged_store().trace(tid)
        want_pb = "application/protobuf" in self.headers.get("Accept", "") and \
            self.st.config["protobuf"]
        if not spans:
            if self.st.config["not_found"] == "404" or not v2:
                raise HTTPError(404, "")
            if want_pb:
                return 200, b"", "application/protobuf"
            return 200, json.dumps({"trace": {}, "metrics": {}}), "application/json"
        if want_pb:
            body = pb_trace(spans)
            if v2:
                body = pb_len(1, body)
                if partial:
                    body += pb_tag(3, 0) + pb_varint(1) + pb_str(4, fault.message)
            return 200, body, "application/protobuf"
        if v2:
            res = {"trace": {"resourceSpans": trace_json_obj(spans)},
                   "metrics": {"inspectedBytes": "4096"}}
            if partial:
                res["status"] = "PARTIAL"
                res["message"] = fault.message
            return 200, json.dumps(res), "application/json"
        return 200, json.dumps({"batches": trace_json_obj(spans)}), "application/json"


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *a, **kw):
        http.server.HTTPServer.__init__(self, *a, **kw)
        self.conns = set()
        self.conns_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.conns_lock:
            self.conns.add(request)
        socketserver.ThreadingMixIn.process_request(self, request, client_address)

    def handle_error(self, request, client_address):
        """Clients that hang up early (the adapter aborting a huge answer) are expected."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        http.server.HTTPServer.handle_error(self, request, client_address)

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        http.server.HTTPServer.shutdown_request(self, request)

    def close_connections(self):
        """Cuts every open keep-alive connection (Tempo going down)."""
        with self.conns_lock:
            conns = list(self.conns)
            self.conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FakeTempo:
    """In-process fake: FakeTempo(port=0).start(); .url; .stop(); restartable on the same
    port (for "Tempo down, then back" tests). tls_cert/tls_key serve HTTPS; client_ca then
    requires client certificates signed by that CA."""

    def __init__(self, port=0, tls_cert=None, tls_key=None, state=None, client_ca=None):
        self.state = state or State()
        self.port = port
        self.tls = (tls_cert, tls_key) if tls_cert else None
        self.client_ca = client_ca  # with TLS: require client certificates signed by it
        self.httpd = None
        self.thread = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self):
        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.httpd.state = self.state
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls[0], self.tls[1])
            if self.client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(self.client_ca)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd.close_connections()
            self.httpd = None

    # convenience for in-process tests
    def load(self, spans, tenant="single-tenant", replace=True):
        with self.state.lock:
            if replace or tenant not in self.state.stores:
                self.state.stores[tenant] = Store()
            self.state.stores[tenant].add(load_spans(spans))

    def configure(self, **kw):
        with self.state.lock:
            self.state.config.update(kw)

    def faults(self, *faults):
        with self.state.lock:
            self.state.faults = [Fault(f) for f in faults]

    def requests(self, path_prefix=""):
        with self.state.lock:
            return [r for r in self.state.requests if r["path"].startswith(path_prefix)]

    def clear_requests(self):
        with self.state.lock:
            self.state.requests = []


def main():
    ap = argparse.ArgumentParser(description="fake Grafana Tempo")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--data", help="JSON file: {\"spans\": [...]} or a list of spans")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--version", dest="tempo_version", default="2.9.0")
    ap.add_argument("--multitenancy", action="store_true")
    a = ap.parse_args()
    f = FakeTempo(port=a.port, tls_cert=a.tls_cert, tls_key=a.tls_key)
    f.configure(version=a.tempo_version, multitenancy=a.multitenancy)
    if a.data:
        with open(a.data) as fh:
            d = json.load(fh)
        f.load(d["spans"] if isinstance(d, dict) else d, tenant=(d.get("tenant", "single-tenant")
                                                               if isinstance(d, dict)
                                                               else "single-tenant"))
    f.start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(f.port))
        os.rename(tmp, a.port_file)
    print("fake-tempo listening on %s" % f.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
