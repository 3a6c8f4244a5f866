#!/usr/bin/env python3
"""Differential HTTP/1.1 conformance driver: brisk against nginx and h2o.

Sends a table of raw requests (RFC 9110 / RFC 9112 edge cases) to every
target over plain sockets (no HTTP library, so nothing is normalised on the
way), and records for each case and target: every response's status line,
header fields and body framing (Content-Length / chunked / close-delimited),
whether the connection stayed open, and what the pipelined request sent
behind the case got. Then it prints where the targets differ and where a
response breaks a rule the RFC states as MUST (see README.md).

  conformance.py --brisk=bazel-bin/server/server --peers      # spawn all three
  conformance.py --target brisk=127.0.0.1:8080                # already running
  conformance.py ... --only 'te_' --json out.json --markdown out.md

Standard library only; every socket has a timeout, so a run is bounded.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# The request sent behind most cases on the same connection: what it gets
# shows how the server framed (and whether it kept) the case's request.
FOLLOW = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"
H = b"Host: localhost\r\n"


class Case:
    """One raw request (or a script of sends and waits) and what the RFC says.

    steps: bytes, or a list of bytes / float (seconds to wait before the next
      send, collecting what arrives meanwhile).
    expect: acceptable statuses of the first final response (None: RFC allows
      any; only the differential view applies).
    must_close: the RFC requires the server to close after its answer.
    must_keep: the follow-up request must be answered (connection persists).
    head: the case's request is HEAD (its response has no body).
    """

    def __init__(self, section, name, steps, expect=None, must_close=False,
                 must_keep=False, follow=True, head=None, no_interim=False,
                 note="", timeout=1.5, answers=None, heads=None):
        self.section = section
        self.name = name
        self.steps = steps if isinstance(steps, list) else [steps]
        if follow:
            self.steps = self.steps + [FOLLOW]
        self.follow = follow
        self.expect = set(expect) if expect is not None else None
        self.must_close = must_close
        self.must_keep = must_keep
        first = next(s for s in self.steps if isinstance(s, bytes))
        self.head = first.lstrip(b"\r\n").startswith(b"HEAD ") if head is None else head
        self.http10 = re.match(rb"^(\r?\n)*\S+ \S+ HTTP/1\.0\r?\n", first) is not None
        self.no_interim = no_interim
        self.note = note
        self.timeout = timeout
        self.answers = answers  # final answers expected (default 1 + follow-up)
        self.heads = heads  # per answer: is it to HEAD (default: the first request's method)


def req(method, target, version="HTTP/1.1", headers=(H,), body=b""):
    line = f"{method} {target} {version}\r\n".encode("latin-1")
    return line + b"".join(headers) + b"\r\n" + body


def get(target="/hello", *extra, version="HTTP/1.1", host=True):
    return req("GET", target, version, ((H,) if host else ()) + tuple(extra))


def post(body, *extra, target="/echo", version="HTTP/1.1", cl=True):
    hs = [H] + list(extra)
    if cl:
        hs.append(b"Content-Length: %d\r\n" % len(body))
    return req("POST", target, version, hs, body)


def chunked(body_bytes, *extra, target="/echo", te=b"chunked", version="HTTP/1.1"):
    hs = [H, b"Transfer-Encoding: " + te + b"\r\n"] + list(extra)
    return req("POST", target, version, hs, body_bytes)


def build_cases():
    C = Case
    cases = []
    add = cases.append
    ok = {200}
    bad = {400}

    # ---- RFC 9112 §2.2: message parsing, line endings, leading empty lines.
    s = "9112 2.2"
    add(C(s, "baseline_get", get(), expect=ok, must_keep=True))
    add(C(s, "leading_crlf", b"\r\n" + get(), expect=ok, must_keep=True,
          note="SHOULD ignore at least one empty line before the request-line"))
    add(C(s, "leading_2crlf", b"\r\n\r\n" + get(), expect=ok))
    add(C(s, "leading_lf", b"\n" + get()))
    add(C(s, "bare_lf_all", get().replace(b"\r\n", b"\n"),
          note="MAY recognise a single LF as line terminator"))
    add(C(s, "bare_lf_request_line", b"GET /hello HTTP/1.1\n" + H + b"\r\n"))
    add(C(s, "bare_lf_header", b"GET /hello HTTP/1.1\r\nHost: localhost\n\r\n"))
    add(C(s, "bare_cr_in_header", b"GET /hello HTTP/1.1\r\nHost: localhost\rX: y\r\n\r\n",
          expect={400, 200}, note="bare CR: MUST reject or replace with SP"))
    add(C(s, "bare_cr_request_line", b"GET /hello\rHTTP/1.1\r\n" + H + b"\r\n"))
    add(C(s, "ws_before_first_header", b"GET /hello HTTP/1.1\r\n X: y\r\n" + H + b"\r\n",
          expect={400, 200}, note="MUST reject or ignore the whitespace-preceded line"))
    add(C(s, "tab_before_first_header", b"GET /hello HTTP/1.1\r\n\tX: y\r\n" + H + b"\r\n",
          expect={400, 200}))
    add(C(s, "tls_hello_bytes", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32,
          expect=bad | {None}, follow=False))
    add(C(s, "garbage_no_line_end", b"\x80\x81 garbage without a line end", expect=bad,
          follow=False, note="no request-line can start with a non-tchar byte"))
    add(C(s, "bad_method_no_line_end", b"G@T /hello HTTP/1.1", expect=bad | {None},
          follow=False))
    add(C(s, "binary_garbage", b"\x00\x01\x02\x03\r\n\r\n", expect=bad | {None}))
    add(C(s, "request_split_slow", [b"GET /hel", 0.2, b"lo HTTP/1.1\r\nHo", 0.2,
                                    b"st: localhost\r\n\r\n"], expect=ok, must_keep=True))

    # ---- RFC 9112 §3: request line.
    s = "9112 3"
    add(C(s, "two_sp_after_method", b"GET  /hello HTTP/1.1\r\n" + H + b"\r\n"))
    add(C(s, "two_sp_before_version", b"GET /hello  HTTP/1.1\r\n" + H + b"\r\n"))
    add(C(s, "htab_separator", b"GET\t/hello HTTP/1.1\r\n" + H + b"\r\n"))
    add(C(s, "leading_sp_method", b" GET /hello HTTP/1.1\r\n" + H + b"\r\n"))
    add(C(s, "trailing_sp_version", b"GET /hello HTTP/1.1 \r\n" + H + b"\r\n"))
    add(C(s, "vt_separator", b"GET\x0b/hello HTTP/1.1\r\n" + H + b"\r\n"))
    add(C(s, "empty_request_line_only", b"\r\n\r\n\r\n", follow=True,
          note="empty lines only, then a real request"))
    add(C(s, "missing_target", b"GET HTTP/1.1\r\n" + H + b"\r\n", expect=bad | {505}))
    add(C(s, "method_lowercase", get().replace(b"GET", b"get", 1), expect={501, 400, 405},
          note="methods are case-sensitive (RFC 9110 §9.1): 'get' is an unknown method"))
    add(C(s, "method_mixedcase", get().replace(b"GET", b"Get", 1), expect={501, 400, 405}))
    add(C(s, "method_bad_tchar_at", get().replace(b"GET", b"G@T", 1), expect=bad))
    add(C(s, "method_bad_tchar_paren", get().replace(b"GET", b"GE(T", 1), expect=bad))
    add(C(s, "method_bad_tchar_slash", get().replace(b"GET", b"GE/T", 1), expect=bad))
    add(C(s, "method_nonascii", get().replace(b"GET", b"G\xc9T", 1), expect=bad))
    add(C(s, "method_valid_tchars", get().replace(b"GET", b"X-Y_Z.1!~", 1), expect={501, 405}))
    add(C(s, "method_long", get().replace(b"GET", b"A" * 200, 1), expect={501, 400, 414, 405}))
    add(C(s, "method_digits", get().replace(b"GET", b"123", 1), expect={501, 400, 405}))
    # request-target forms (§3.2)
    add(C(s, "origin_query", get("/hello?a=1&b=2"), expect=ok))
    add(C(s, "origin_empty_query", get("/hello?"), expect=ok))
    add(C(s, "origin_pct_encoded", get("/hell%6F"), expect=ok,
          note="%6F is 'o': same resource"))
    add(C(s, "origin_pct_upper", get("/hell%6f"), expect=ok))
    add(C(s, "origin_pct_bad", get("/hello%zz"), expect=bad | {404}))
    add(C(s, "origin_pct_truncated", get("/hello%4"), expect=bad | {404}))
    add(C(s, "origin_pct_nul", get("/hello%00"), expect=bad | {404}))
    add(C(s, "origin_fragment", get("/hello#frag"), expect=bad | {200, 301},
          note="'#' is not in request-target; SHOULD 400 or 301"))
    add(C(s, "origin_raw_utf8", get("/h\u00e9llo"), expect=bad | {301, 404}))
    add(C(s, "origin_raw_space_like_del", get("/hel\x7flo"), expect=bad))
    add(C(s, "origin_raw_nul", b"GET /hel\x00lo HTTP/1.1\r\n" + H + b"\r\n", expect=bad))
    add(C(s, "origin_brace", get("/hello{x}"), expect=bad | {404, 301}))
    add(C(s, "origin_backslash", get("/hello\\x"), expect=bad | {404, 301}))
    add(C(s, "origin_dot_segments", get("/a/../hello")))
    add(C(s, "origin_double_slash", get("//hello")))
    add(C(s, "origin_no_slash", get("hello"), expect=bad))
    add(C(s, "origin_long_8000", get("/hello?" + "a" * 8000), expect={200, 414}))
    add(C(s, "origin_long_9000", get("/hello?" + "a" * 9000), expect={414, 200},
          must_close=False))
    add(C(s, "origin_long_70000", get("/hello?" + "a" * 70000), expect={414}))
    add(C(s, "absolute_form", get("http://localhost/hello"), expect=ok, must_keep=True,
          note="a server MUST accept absolute-form (§3.2.2)"))
    add(C(s, "absolute_form_port", get("http://localhost:80/hello"), expect=ok))
    add(C(s, "absolute_form_https", get("https://localhost/hello"), expect={200, 400, 421}))
    add(C(s, "absolute_form_scheme_upper", get("HTTP://LOCALHOST/hello"), expect=ok,
          note="scheme and host are case-insensitive"))
    add(C(s, "absolute_form_no_path", get("http://localhost"), expect={200, 404},
          note="empty path is '/'"))
    add(C(s, "absolute_form_query_no_path", get("http://localhost?x=1"), expect={200, 404}))
    add(C(s, "absolute_form_host_mismatch",
          req("GET", "http://localhost/hello", headers=(b"Host: other.example\r\n",)),
          expect=ok, note="origin server MUST ignore Host when absolute-form"))
    add(C(s, "absolute_form_no_host_header",
          req("GET", "http://localhost/hello", headers=()), expect=bad,
          note="HTTP/1.1 request lacking Host: MUST 400 (§3.2)"))
    add(C(s, "absolute_form_empty_host", get("http:///hello"), expect=bad,
          note="RFC 9110 §4.2.1: empty host MUST be rejected"))
    add(C(s, "absolute_form_userinfo", get("http://u:p@localhost/hello"), expect=bad | {200},
          note="RFC 9110 §4.2.4: SHOULD treat userinfo as an error"))
    add(C(s, "absolute_form_fragment", get("http://localhost/hello#f"), expect=bad | {200}))
    add(C(s, "absolute_form_bad_port", get("http://localhost:8x/hello"), expect=bad))
    add(C(s, "absolute_form_ftp", get("ftp://localhost/hello")))
    add(C(s, "authority_form_get", get("localhost:80"), expect=bad))
    add(C(s, "authority_form_connect", req("CONNECT", "localhost:80"),
          expect={400, 403, 404, 405, 501}, follow=False))
    add(C(s, "connect_origin_form", req("CONNECT", "/hello"), expect={400, 405, 501},
          follow=False))
    add(C(s, "asterisk_options", req("OPTIONS", "*"), expect={200, 204, 405, 501},
          must_keep=True))
    add(C(s, "asterisk_get", get("*"), expect=bad | {404}))
    add(C(s, "asterisk_head", req("HEAD", "*"), expect=bad | {404}))
    # versions (§2.3, RFC 9110 §2.5)
    add(C(s, "http10", get(version="HTTP/1.0", host=False), expect=ok, must_close=True))
    add(C(s, "http10_with_host", get(version="HTTP/1.0"), expect=ok, must_close=True))
    add(C(s, "http11_explicit", get(version="HTTP/1.1"), expect=ok, must_keep=True))
    add(C(s, "http12", get(version="HTTP/1.2"), expect={200, 505},
          note="a higher minor version: SHOULD serve as the highest it supports"))
    add(C(s, "http19", get(version="HTTP/1.9"), expect={200, 505}))
    add(C(s, "http20", get(version="HTTP/2.0"), expect={505, 400}))
    add(C(s, "http30", get(version="HTTP/3.0"), expect={505, 400}))
    add(C(s, "http09_version", get(version="HTTP/0.9"), expect={505, 400}))
    add(C(s, "http_lowercase", get(version="http/1.1"), expect=bad))
    add(C(s, "http_two_digit_minor", get(version="HTTP/1.10"), expect=bad | {505}))
    add(C(s, "http_leading_zero", get(version="HTTP/01.1"), expect=bad | {505}))
    add(C(s, "http_no_minor", get(version="HTTP/1"), expect=bad))
    add(C(s, "http_missing_version", b"GET /hello\r\n" + H + b"\r\n",
          expect=bad | {505, None}, note="an HTTP/0.9 simple request"))
    add(C(s, "http_version_letters", get(version="HTTP/x.y"), expect=bad))
    add(C(s, "http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", expect={505, 400, None},
          follow=False))

    # ---- RFC 9112 §5, RFC 9110 §5: field syntax.
    s = "9112 5 / 9110 5"
    add(C(s, "space_before_colon", get("/hello", b"X-A : 1\r\n"), expect=bad, must_close=True,
          note="MUST 400 (§5.1)"))
    add(C(s, "tab_before_colon", get("/hello", b"X-A\t: 1\r\n"), expect=bad))
    add(C(s, "host_space_before_colon", b"GET /hello HTTP/1.1\r\nHost : localhost\r\n\r\n",
          expect=bad))
    add(C(s, "empty_field_name", get("/hello", b": v\r\n"), expect=bad))
    add(C(s, "field_name_paren", get("/hello", b"X(A): 1\r\n"), expect=bad))
    add(C(s, "field_name_at", get("/hello", b"X@A: 1\r\n"), expect=bad))
    add(C(s, "field_name_slash", get("/hello", b"X/A: 1\r\n"), expect=bad))
    add(C(s, "field_name_nonascii", get("/hello", b"X\xc3\xa9: 1\r\n"), expect=bad))
    add(C(s, "field_name_del", get("/hello", b"X\x7fA: 1\r\n"), expect=bad))
    add(C(s, "field_name_underscore", get("/hello", b"X_A: 1\r\n"), expect=ok))
    add(C(s, "field_name_tchars", get("/hello", b"!#$%&'*+-.^_`|~: 1\r\n"), expect=ok))
    add(C(s, "field_no_colon", get("/hello", b"XA\r\n"), expect=bad))
    add(C(s, "obs_fold", get("/hello", b"X-A: 1\r\n  2\r\n"), expect={400, 200},
          note="MUST 400 or replace obs-fold by SP (§5.2)"))
    add(C(s, "obs_fold_tab", get("/hello", b"X-A: 1\r\n\t2\r\n"), expect={400, 200}))
    add(C(s, "value_obs_text", get("/hello", b"X-A: caf\xe9\r\n"), expect=ok))
    add(C(s, "value_utf8", get("/hello", b"X-A: \xe2\x9c\x93\r\n"), expect=ok))
    add(C(s, "value_ctl_01", get("/hello", b"X-A: a\x01b\r\n"), expect={400, 200},
          note="other CTLs: MAY retain (RFC 9110 §5.5)"))
    add(C(s, "value_nul", get("/hello", b"X-A: a\x00b\r\n"), expect={400, 200},
          note="NUL: MUST reject or replace with SP"))
    add(C(s, "value_del", get("/hello", b"X-A: a\x7fb\r\n"), expect={400, 200}))
    add(C(s, "value_htab_inside", get("/hello", b"X-A: a\tb\r\n"), expect=ok))
    add(C(s, "value_trailing_ws", get("/hello", b"X-A: a \t \r\n"), expect=ok))
    add(C(s, "value_empty", get("/hello", b"X-A:\r\n"), expect=ok))
    add(C(s, "value_only_ws", get("/hello", b"X-A: \t \r\n"), expect=ok))
    add(C(s, "value_no_space_after_colon", get("/hello", b"X-A:1\r\n"), expect=ok))
    add(C(s, "headers_99", get("/hello", *[b"X-%d: 1\r\n" % i for i in range(98)]),
          expect=ok))
    add(C(s, "headers_150", get("/hello", *[b"X-%d: 1\r\n" % i for i in range(150)]),
          expect={200, 431, 400}))
    add(C(s, "headers_1000", get("/hello", *[b"X-%d: 1\r\n" % i for i in range(1000)]),
          expect={431, 400, 200}))
    add(C(s, "header_value_16k", get("/hello", b"X-A: " + b"a" * 16000 + b"\r\n"),
          expect={200, 431, 400}))
    add(C(s, "header_value_70k", get("/hello", b"X-A: " + b"a" * 70000 + b"\r\n"),
          expect={431, 400}))
    add(C(s, "content_length_name_case", post(b"hi").replace(b"Content-Length", b"cOnTeNt-LeNgTh"),
          expect=ok, must_keep=True))

    # ---- RFC 9112 §3.2, RFC 9110 §7.2: Host.
    s = "9112 3.2 Host"
    add(C(s, "host_missing_11", get(host=False), expect=bad, must_close=True))
    add(C(s, "host_missing_10", get(version="HTTP/1.0", host=False), expect=ok))
    add(C(s, "host_duplicate_same", get("/hello", H), expect=bad))
    add(C(s, "host_duplicate_diff", get("/hello", b"Host: other\r\n"), expect=bad))
    add(C(s, "host_duplicate_10", get("/hello", H, version="HTTP/1.0"), expect=bad,
          note="'any request message that contains more than one Host'"))
    # (name, Host value, acceptable statuses)
    for name, value, want in [
            ("empty", b"", ok | bad),  # what a client sends for a URI without authority
            ("with_port", b"localhost:8080", ok),
            ("empty_port", b"localhost:", ok | bad),
            ("ipv6", b"[::1]:80", ok),
            ("ipv6_unbracketed", b"::1", bad),
            ("ipv6_unclosed", b"[::1", bad),
            ("space_inside", b"local host", bad),
            ("slash", b"local/host", bad),
            ("userinfo", b"u@localhost", bad),
            ("bad_port", b"localhost:8x", bad),
            ("two_colons", b"a:1:2", bad),
            ("trailing_dot", b"localhost.", ok),
            ("upper", b"LOCALHOST", ok),
            ("underscore", b"my_host", ok),
            ("nonascii", b"h\xc3\xa9", bad),
            ("comma_list", b"a, b", bad),
    ]:
        add(C(s, "host_" + name, req("GET", "/hello", headers=(b"Host: " + value + b"\r\n",)),
              expect=want))

    # ---- RFC 9112 §6.3, RFC 9110 §8.6: Content-Length.
    s = "9112 6.3 Content-Length"
    add(C(s, "cl_basic", post(b"hello"), expect=ok, must_keep=True))
    add(C(s, "cl_zero", post(b""), expect=ok, must_keep=True))
    add(C(s, "post_no_length", post(b"", cl=False), expect={200, 411}))
    add(C(s, "cl_dup_equal_lines", post(b"hello", b"Content-Length: 5\r\n"),
          expect={200, 400}, note="MAY reject or collapse (RFC 9110 §8.6)"))
    add(C(s, "cl_list_equal", req("POST", "/echo", headers=(H, b"Content-Length: 5, 5\r\n"),
                                  body=b"hello"), expect={200, 400}))
    add(C(s, "cl_dup_different", post(b"hello", b"Content-Length: 6\r\n"), expect=bad,
          must_close=True))
    add(C(s, "cl_list_different", req("POST", "/echo", headers=(H, b"Content-Length: 5, 6\r\n"),
                                      body=b"hello"), expect=bad, must_close=True))
    for name, v in [("plus", b"+5"), ("negative", b"-5"), ("hex", b"0x5"),
                    ("decimal_point", b"5.0"), ("letters", b"5a"), ("empty", b""),
                    ("inner_space", b"5 5"), ("comma_only", b","),
                    ("exp", b"5e0")]:
        add(C(s, "cl_" + name, req("POST", "/echo", headers=(H, b"Content-Length: " + v + b"\r\n"),
                                   body=b"hello"), expect=bad, must_close=True))
    add(C(s, "cl_leading_zeros", req("POST", "/echo", headers=(H, b"Content-Length: 0005\r\n"),
                                     body=b"hello"), expect=ok))
    add(C(s, "cl_ows", req("POST", "/echo", headers=(H, b"Content-Length:  5 \t\r\n"),
                           body=b"hello"), expect=ok))
    add(C(s, "cl_huge_20_digits", req("POST", "/echo",
                                      headers=(H, b"Content-Length: 99999999999999999999\r\n"),
                                      body=b"hello"), expect={400, 413}, must_close=True))
    add(C(s, "cl_2mb", req("POST", "/echo", headers=(H, b"Content-Length: 2000000\r\n"),
                           body=b"hello"), expect={413, 200}, follow=False))
    add(C(s, "cl_on_get", get("/hello", b"Content-Length: 5\r\n") + b"hello", expect=ok,
          must_keep=True, note="GET content is framed and consumed"))
    add(C(s, "cl_on_head", req("HEAD", "/hello", headers=(H, b"Content-Length: 5\r\n"),
                               body=b"hello"), expect=ok))
    add(C(s, "cl_zero_then_bytes", post(b"") + b"X" * 0, expect=ok, must_keep=True))

    # ---- RFC 9112 §6.1, §7: Transfer-Encoding and chunked.
    s = "9112 6.1/7 chunked"
    add(C(s, "te_chunked", chunked(b"5\r\nhello\r\n0\r\n\r\n"), expect=ok, must_keep=True))
    add(C(s, "te_chunked_two_chunks", chunked(b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"), expect=ok))
    add(C(s, "te_chunked_upper_hex", chunked(b"A\r\n0123456789\r\n0\r\n\r\n"), expect=ok))
    add(C(s, "te_chunked_leading_zeros", chunked(b"0005\r\nhello\r\n000\r\n\r\n"), expect=ok))
    add(C(s, "te_chunked_empty_body", chunked(b"0\r\n\r\n"), expect=ok, must_keep=True))
    add(C(s, "te_case_Chunked", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"Chunked"), expect=ok,
          note="coding names are case-insensitive (§7)"))
    add(C(s, "te_case_CHUNKED", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"CHUNKED"), expect=ok))
    add(C(s, "te_ows", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"chunked \t"), expect=ok))
    add(C(s, "te_ext_token", chunked(b"5;a=b\r\nhello\r\n0\r\n\r\n"), expect=ok))
    add(C(s, "te_ext_noval", chunked(b"5;a\r\nhello\r\n0\r\n\r\n"), expect=ok))
    add(C(s, "te_ext_quoted", chunked(b'5;a="b c"\r\nhello\r\n0\r\n\r\n'), expect=ok))
    add(C(s, "te_ext_bws", chunked(b"5 ; a = b\r\nhello\r\n0\r\n\r\n"), expect=ok | bad))
    add(C(s, "te_ext_on_last", chunked(b"5\r\nhello\r\n0;x=y\r\n\r\n"), expect=ok))
    add(C(s, "te_ext_bad_char", chunked(b"5;a@b\r\nhello\r\n0\r\n\r\n"), expect=bad | ok))
    add(C(s, "te_trailer", chunked(b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), expect=ok,
          must_keep=True))
    add(C(s, "te_trailer_two", chunked(b"5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"),
          expect=ok))
    add(C(s, "te_trailer_bad", chunked(b"5\r\nhello\r\n0\r\nX-T : 1\r\n\r\n"), expect=bad | ok))
    add(C(s, "te_missing_last_crlf", chunked(b"5\r\nhello\r\n0\r\n"), expect=bad | ok,
          note="the follow-up's request line lands in the trailer section"))
    add(C(s, "te_missing_data_crlf", chunked(b"5\r\nhelloXX0\r\n\r\n"), expect=bad,
          must_close=True))
    add(C(s, "te_data_longer", chunked(b"3\r\nhello\r\n0\r\n\r\n"), expect=bad,
          must_close=True))
    add(C(s, "te_lf_only_lines", chunked(b"5\nhello\n0\n\n"), expect=bad | ok))
    add(C(s, "te_size_0x", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), expect=bad, must_close=True))
    add(C(s, "te_size_plus", chunked(b"+5\r\nhello\r\n0\r\n\r\n"), expect=bad, must_close=True))
    add(C(s, "te_size_leading_sp", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), expect=bad))
    add(C(s, "te_size_trailing_sp", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), expect=bad | ok))
    add(C(s, "te_size_empty", chunked(b"\r\nhello\r\n0\r\n\r\n"), expect=bad, must_close=True))
    add(C(s, "te_size_not_hex", chunked(b"g\r\nhello\r\n0\r\n\r\n"), expect=bad, must_close=True))
    add(C(s, "te_size_overflow", chunked(b"ffffffffffffffffff1\r\nhello\r\n0\r\n\r\n"),
          expect={400, 413}, must_close=True))
    add(C(s, "te_size_2mb", chunked(b"200000\r\nhello"), expect={413, 400}, follow=False))
    add(C(s, "te_chunked_twice", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"chunked, chunked"),
          expect=bad, must_close=True))
    add(C(s, "te_chunked_not_last", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"chunked, gzip"),
          expect=bad, must_close=True, note="chunked not final: MUST 400 and close (§6.3)"))
    add(C(s, "te_gzip_only", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"gzip"), expect=bad,
          must_close=True))
    add(C(s, "te_identity", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"identity"), expect=bad | {501},
          must_close=True))
    add(C(s, "te_gzip_chunked", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"gzip, chunked"),
          expect={501}, note="unknown coding: SHOULD 501 (§6.1)"))
    add(C(s, "te_unknown_chunked", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"x-foo, chunked"),
          expect={501}))
    add(C(s, "te_two_lines", chunked(b"5\r\nhello\r\n0\r\n\r\n", b"Transfer-Encoding: chunked\r\n",
                                     te=b"gzip"), expect={501, 400}))
    add(C(s, "te_two_lines_chunked", chunked(b"5\r\nhello\r\n0\r\n\r\n",
                                             b"Transfer-Encoding: chunked\r\n"),
          expect=bad))
    add(C(s, "te_empty", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b""), expect=bad | {501}))
    add(C(s, "te_empty_list_elems", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b", chunked"),
          expect=ok | bad, note="empty list elements MUST be ignored (RFC 9110 §5.6.1)"))
    add(C(s, "te_trailing_comma", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"chunked,"),
          expect=ok, note="empty list elements MUST be ignored (RFC 9110 §5.6.1)"))
    add(C(s, "te_double_comma", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"gzip,,chunked"),
          expect={501}))
    add(C(s, "te_comma_only_line", chunked(b"5\r\nhello\r\n0\r\n\r\n",
                                           b"Transfer-Encoding: ,\r\n"), expect=ok))
    add(C(s, "te_chunked_param", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"chunked;q=1"),
          expect=bad | {501}))
    add(C(s, "te_and_cl", chunked(b"5\r\nhello\r\n0\r\n\r\n", b"Content-Length: 5\r\n"),
          expect={400, 200}, must_close=True,
          note="MAY reject or use TE; either way MUST close after responding (§6.3)"))
    add(C(s, "te_http10", chunked(b"5\r\nhello\r\n0\r\n\r\n", version="HTTP/1.0"),
          expect={400, 501, 200}, must_close=True,
          note="HTTP/1.0 with TE: framing faulty, MUST close (§6.1)"))
    add(C(s, "te_chunked_on_get", get("/hello", b"Transfer-Encoding: chunked\r\n")
          + b"5\r\nhello\r\n0\r\n\r\n", expect=ok, must_keep=True))
    add(C(s, "te_obs_fold", req("POST", "/echo", headers=(H, b"Transfer-Encoding:\r\n chunked\r\n"),
                                body=b"5\r\nhello\r\n0\r\n\r\n"), expect={400, 200}))
    add(C(s, "te_vt_value", chunked(b"5\r\nhello\r\n0\r\n\r\n", te=b"\x0bchunked"), expect=bad))

    # ---- RFC 9112 §9.3/§9.6, RFC 9110 §7.6.1: persistence and Connection.
    s = "9112 9 Connection"
    add(C(s, "conn_close", get("/hello", b"Connection: close\r\n"), expect=ok, must_close=True))
    add(C(s, "conn_Close_case", get("/hello", b"Connection: Close\r\n"), expect=ok,
          must_close=True))
    add(C(s, "conn_close_te", get("/hello", b"Connection: close, TE\r\n", b"TE: trailers\r\n"),
          expect=ok, must_close=True))
    add(C(s, "conn_te_close", get("/hello", b"Connection: TE,close\r\n"), expect=ok,
          must_close=True))
    add(C(s, "conn_keepalive_close", get("/hello", b"Connection: keep-alive, close\r\n"),
          expect=ok, must_close=True))
    add(C(s, "conn_close_second_line", get("/hello", b"Connection: foo\r\n",
                                           b"Connection: close\r\n"), expect=ok, must_close=True))
    add(C(s, "conn_close_ows_list", get("/hello", b"Connection: ,  close ,\r\n"), expect=ok,
          must_close=True))
    add(C(s, "conn_closed_token", get("/hello", b"Connection: closed\r\n"), expect=ok,
          must_keep=True, note="'closed' is not 'close'"))
    add(C(s, "conn_keepalive_11", get("/hello", b"Connection: keep-alive\r\n"), expect=ok,
          must_keep=True))
    add(C(s, "conn_foo_11", get("/hello", b"Connection: foo\r\n"), expect=ok, must_keep=True))
    add(C(s, "conn_10_keepalive", get("/hello", b"Connection: keep-alive\r\n", version="HTTP/1.0"),
          expect=ok))
    add(C(s, "conn_10_Keep_Alive", get("/hello", b"Connection: Keep-Alive\r\n",
                                       version="HTTP/1.0"), expect=ok))
    add(C(s, "conn_10_none", get(version="HTTP/1.0"), expect=ok, must_close=True))
    add(C(s, "conn_10_keepalive_close", get("/hello", b"Connection: keep-alive, close\r\n",
                                            version="HTTP/1.0"), expect=ok, must_close=True))
    add(C(s, "upgrade_h2c", get("/hello", b"Connection: Upgrade, HTTP2-Settings\r\n",
                                b"Upgrade: h2c\r\n", b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
          expect=ok, note="a server MAY ignore Upgrade"))
    add(C(s, "upgrade_websocket", get("/hello", b"Connection: Upgrade\r\n",
                                      b"Upgrade: websocket\r\n"), expect=ok | {400, 426}))
    add(C(s, "pipeline_three", get() + get("/nope") + req("HEAD", "/hello"), expect=ok,
          must_keep=True, answers=4, heads=[False, False, True, False]))
    add(C(s, "pipeline_64", get() * 64, expect=ok, answers=65, must_keep=True))
    add(C(s, "pipeline_64_mixed_slow", (get("/slow?ms=5") + get()) * 32, expect=ok,
          answers=65, note="answers in request order (RFC 9112 §9.3.2)"))
    add(C(s, "stalled_head", b"GET /hello HTTP/1.1\r\nHost: localhost\r\n", follow=False,
          timeout=12, expect={408, None},
          note="brisk's header timeout is 10 s; peers wait 60 s"))
    add(C(s, "pipeline_post_get", post(b"abc") + get(), expect=ok, must_keep=True))
    add(C(s, "pipeline_after_404", get("/nope"), expect={404}, must_keep=True))
    add(C(s, "pipeline_after_400", get("/hello", b"X A: 1\r\n"), expect=bad, must_close=True,
          note="after a 400 the server closes; the follow-up gets nothing"))
    add(C(s, "pipeline_10_then_11", get(version="HTTP/1.0"), expect=ok, must_close=True))
    add(C(s, "half_close_after_request", [get(), "SHUT_WR"], follow=False, expect=ok,
          note="client half-closes after a complete request: server should still answer"))

    # ---- RFC 9110 §10.1.1: Expect.
    s = "9110 10.1.1 Expect"
    head5 = lambda *e, v="HTTP/1.1", t="/echo", m="POST": req(
        m, t, v, (H, b"Content-Length: 5\r\n") + e)
    add(C(s, "expect_100", [head5(b"Expect: 100-continue\r\n"), 0.4, b"hello"], expect=ok,
          must_keep=True))
    add(C(s, "expect_100_case", [head5(b"Expect: 100-Continue\r\n"), 0.4, b"hello"], expect=ok,
          note="the Expect value is case-insensitive"))
    add(C(s, "expect_100_http10", [head5(b"Expect: 100-continue\r\n", v="HTTP/1.0"), 0.4,
                                   b"hello"], expect=ok, no_interim=True,
          note="MUST ignore 100-continue in HTTP/1.0; MUST NOT send 1xx to 1.0"))
    add(C(s, "expect_100_body_sent", head5(b"Expect: 100-continue\r\n") + b"hello", expect=ok))
    add(C(s, "expect_100_no_body", get("/hello", b"Expect: 100-continue\r\n"), expect=ok))
    add(C(s, "expect_100_404", [head5(b"Expect: 100-continue\r\n", t="/nope"), 0.4, b"hello"],
          expect={404}))
    add(C(s, "expect_100_405", [head5(b"Expect: 100-continue\r\n", t="/hello"), 0.4, b"hello"],
          expect={405, 200}))
    add(C(s, "expect_unknown", [head5(b"Expect: fancy\r\n"), 0.4, b"hello"], expect={417, 200},
          note="MAY 417 (RFC 9110 §10.1.1)"))
    add(C(s, "expect_100_list_first", [head5(b"Expect: 100-continue, foo\r\n"), 0.4, b"hello"],
          expect=ok | {417}, note="Expect is a list (#expectation)"))
    add(C(s, "expect_100_list_empty_elems", [head5(b"Expect: , 100-continue,\r\n"), 0.4,
                                             b"hello"], expect=ok))
    add(C(s, "expect_100_second_line", [head5(b"Expect: foo\r\n", b"Expect: 100-continue\r\n"),
                                        0.4, b"hello"], expect=ok | {417}))
    add(C(s, "expect_100_param", [head5(b"Expect: 100-continue;x=1\r\n"), 0.4, b"hello"]))
    add(C(s, "expect_100_413", [req("POST", "/echo", headers=(H, b"Content-Length: 2000000\r\n",
                                                               b"Expect: 100-continue\r\n")),
                                0.4], expect={413, 417}, follow=False))

    # ---- RFC 9110 §9: methods on each route.
    s = "9110 9 methods"
    for path in ["/hello", "/echo", "/nope"]:
        for m in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
                  "PURGE", "FOO"]:
            body = b"" if m in ("GET", "HEAD", "OPTIONS", "TRACE") else b"hello"
            hs = (H, b"Content-Length: %d\r\n" % len(body)) if body else (H,)
            add(C(s, f"m_{m}_{path.strip('/')}", req(m, path, headers=hs, body=body),
                  note="follow-up shows whether the body was consumed"))
    for name, r in [
            ("no_host", req("HEAD", "/hello", headers=())),
            ("bad_field", req("HEAD", "/hello", headers=(H, b"X A: 1\r\n"))),
            ("bad_cl", req("HEAD", "/hello", headers=(H, b"Content-Length: x\r\n"))),
            ("cl_413", req("HEAD", "/hello", headers=(H, b"Content-Length: 2000000\r\n"))),
            ("te_501", req("HEAD", "/hello", headers=(H, b"Transfer-Encoding: gzip, chunked\r\n"))),
            ("http20", req("HEAD", "/hello", "HTTP/2.0")),
            ("fields_431", req("HEAD", "/hello", headers=(H,) + tuple(
                b"X-%d: 1\r\n" % i for i in range(150)))),
            ("unknown_route", req("HEAD", "/nope")),
            ("slow", req("HEAD", "/slow?ms=5")),
            ("events", req("HEAD", "/events?n=2&ms=5")),
            ("events_10", req("HEAD", "/events?n=2&ms=5", "HTTP/1.0", ())),
    ]:
        add(C(s, "head_err_" + name, r, note="no content in any response to HEAD (RFC 9110 §9.3.2)"))
    add(C(s, "head_10", req("HEAD", "/hello", "HTTP/1.0", ()), expect=ok))
    add(C(s, "trace_with_body", req("TRACE", "/hello", headers=(H, b"Content-Length: 5\r\n"),
                                    body=b"hello")))
    add(C(s, "unknown_method_body_smuggle",
          req("FOO", "/hello", headers=(H, b"Content-Length: %d\r\n" % len(get("/nope"))),
              body=get("/nope")),
          note="a 501 must not leave the body to be parsed as a request"))
    add(C(s, "405_body_smuggle",
          req("POST", "/hello", headers=(H, b"Content-Length: %d\r\n" % len(get("/nope"))),
              body=get("/nope"))))
    add(C(s, "404_chunked_body_smuggle",
          req("POST", "/nope", headers=(H, b"Transfer-Encoding: chunked\r\n"),
              body=b"%x\r\n" % len(get("/nope")) + get("/nope") + b"\r\n0\r\n\r\n")))

    # ---- RFC 9110 §13, §14: conditionals and ranges (a server MAY ignore them).
    s = "9110 13/14"
    add(C(s, "if_none_match_star", get("/hello", b"If-None-Match: *\r\n")))
    add(C(s, "if_modified_since", get("/hello", b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n")))
    add(C(s, "range_bytes", get("/hello", b"Range: bytes=0-1\r\n"), expect={200, 206}))
    add(C(s, "range_unsatisfiable", get("/hello", b"Range: bytes=999-\r\n"), expect={200, 416}))
    add(C(s, "range_bad_unit", get("/hello", b"Range: lines=0-1\r\n"), expect=ok))
    add(C(s, "if_match_bad", get("/hello", b"If-Match: \"nope\"\r\n"), expect={200, 412}))

    # ---- brisk routes (peers answer 404): response framing for 1.0/1.1.
    s = "brisk routes"
    add(C(s, "slow_route", get("/slow?ms=5"), must_keep=True))
    add(C(s, "slow_route_10", get("/slow?ms=5", version="HTTP/1.0")))
    add(C(s, "events_10", get("/events?n=2&ms=5", version="HTTP/1.0"), follow=False,
          note="a streamed answer to 1.0 must not be chunked"))
    add(C(s, "events_11", get("/events?n=2&ms=5"), follow=False))
    add(C(s, "slow_deadline", get("/slow?ms=600000"), timeout=8,
          note="503 at once: it cannot finish before its 5 s deadline "
               "(Retry-After is a MAY, RFC 9110 §15.6.4)"))
    add(C(s, "events_10_keepalive", get("/events?n=2&ms=5", b"Connection: keep-alive\r\n",
                                        version="HTTP/1.0"),
          must_close=True, note="a 1.0 stream can only end by close"))
    add(C(s, "post_10", post(b"hello", version="HTTP/1.0"), must_close=True))
    add(C(s, "post_10_keepalive", post(b"hello", b"Connection: keep-alive\r\n",
                                       version="HTTP/1.0"), must_keep=True))
    add(C(s, "options_asterisk_10", req("OPTIONS", "*", "HTTP/1.0", ())))
    add(C(s, "chunk_ext_2k", chunked(b"5;" + b"a" * 2048 + b"\r\nhello\r\n0\r\n\r\n"),
          expect={400, 413, 200}))
    add(C(s, "field_name_long", get("/hello", b"X" * 9000 + b": 1\r\n"), expect={200, 431, 400}))
    add(C(s, "host_port_only", req("GET", "/hello", headers=(b"Host: :80\r\n",)), expect=bad))
    add(C(s, "healthz", get("/healthz")))
    add(C(s, "metrics_head", req("HEAD", "/metrics")))
    add(C(s, "index", get("/")))
    return cases


# ----------------------------------------------------------------------------
# Reading responses.

class Response:
    def __init__(self):
        self.version = self.reason = ""
        self.status = None
        self.headers = []
        self.framing = ""
        self.body = b""
        self.complete = False

    def get(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def to_json(self):
        return {"version": self.version, "status": self.status, "reason": self.reason,
                "headers": self.headers, "framing": self.framing,
                "body_len": len(self.body), "body_head": self.body[:60].decode("latin-1")}


def parse_responses(data, eof, head_flags):
    """Splits `data` into responses. head_flags[i]: the i-th final answer is to HEAD.

    Returns (responses, rest): a last incomplete response is included with
    complete=False.
    """
    out = []
    pos = 0
    final_index = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        sep = 4
        lf_end = data.find(b"\n\n", pos)
        if lf_end != -1 and (end == -1 or lf_end < end):
            end, sep = lf_end, 2
        r = Response()
        if end == -1:
            r.framing = "partial-head"
            r.body = data[pos:]
            out.append(r)
            return out, data[pos:]
        lines = data[pos:end].decode("latin-1").replace("\r\n", "\n").split("\n")
        m = re.match(r"^(\S+) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            r.framing = "garbage"
            r.body = data[pos:]
            out.append(r)
            return out, b""
        r.version, r.status, r.reason = m.group(1), int(m.group(2)), m.group(3) or ""
        for ln in lines[1:]:
            n, _, v = ln.partition(":")
            r.headers.append([n, v.strip()])
        pos = end + sep
        is_head = head_flags[final_index] if final_index < len(head_flags) else False
        te = ",".join(r.get("transfer-encoding")).lower()
        cl = r.get("content-length")
        if 100 <= r.status < 200:
            r.framing = "interim"
            r.complete = True
            out.append(r)
            continue
        final_index += 1
        if is_head or r.status in (204, 304):
            r.framing = "none" + ("(HEAD)" if is_head else "")
            if cl:
                r.framing += ",CL=" + cl[0]
            r.complete = True
        elif "chunked" in te:
            r.framing = "chunked"
            body, p, done = b"", pos, False
            while True:
                le = data.find(b"\r\n", p)
                if le == -1:
                    break
                size_txt = data[p:le].split(b";")[0].strip()
                try:
                    size = int(size_txt, 16)
                except ValueError:
                    break
                if size == 0:
                    te_end = data.find(b"\r\n\r\n", le)
                    if le + 2 <= len(data) and data[le + 2:le + 4] == b"\r\n":
                        p, done = le + 4, True
                    elif te_end != -1:
                        p, done = te_end + 4, True
                    break
                if le + 2 + size + 2 > len(data):
                    break
                body += data[le + 2:le + 2 + size]
                p = le + 2 + size + 2
            r.body, r.complete = body, done
            if not done:
                out.append(r)
                return out, data[pos:]
            pos = p
        elif cl:
            try:
                n = int(cl[0])
            except ValueError:
                n = 0
            r.framing = "CL"
            r.body = data[pos:pos + n]
            r.complete = len(r.body) == n
            if not r.complete:
                out.append(r)
                return out, data[pos:]
            pos += n
        else:
            r.framing = "close-delimited"
            r.body = data[pos:]
            r.complete = eof
            pos = len(data)
        out.append(r)
    return out, b""


def expected_final_count(case):
    if case.answers is not None:
        return case.answers
    return 2 if case.follow else 1


def receive(sock, wait):
    """One recv with a timeout: (bytes, eof, reset); b"" on timeout."""
    sock.settimeout(max(0.01, wait))
    try:
        chunk = sock.recv(65536)
    except socket.timeout:
        return b"", False, False
    except ConnectionResetError:
        return b"", True, True
    return chunk, not chunk, False


def run_case(case, host, port, settle=0.3):
    """Runs one case against host:port. Returns a result dict."""
    timeout = case.timeout
    heads = case.heads or [case.head] + ([False] if case.follow else [])
    data = b""
    eof = reset = False
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    interim_before_body = False
    try:
        for step in case.steps:
            if step == "SHUT_WR":
                sock.shutdown(socket.SHUT_WR)
            elif isinstance(step, float):
                # Collect what arrives while the client waits (a 100 Continue).
                deadline = time.monotonic() + step
                while not eof and time.monotonic() < deadline:
                    chunk, eof, r = receive(sock, deadline - time.monotonic())
                    reset |= r
                    if not chunk and not eof:
                        break
                    data += chunk
                if re.match(rb"^HTTP/\S+ 1\d\d", data):
                    interim_before_body = True
            else:
                try:
                    sock.sendall(step)
                except (BrokenPipeError, ConnectionResetError):
                    reset = True
                    break
        # Read until EOF, or until the expected answers arrived and the line
        # stayed quiet for `settle`, or nothing came for `timeout`.
        while not eof:
            resps, _ = parse_responses(data, False, heads)
            finals = [r for r in resps if r.framing != "interim" and r.complete]
            done = len(finals) >= expected_final_count(case)
            chunk, eof, r = receive(sock, settle if done else timeout)
            reset |= r
            if not chunk and not eof:
                break
            data += chunk
    finally:
        sock.close()
    resps, _ = parse_responses(data, eof, heads)
    return {"responses": [r.to_json() for r in resps], "closed": eof, "reset": reset,
            "raw_len": len(data), "interim_before_body": interim_before_body,
            "_objs": resps}


# ----------------------------------------------------------------------------
# Summaries and RFC checks.

def summary(res):
    parts = []
    for r in res["_objs"]:
        if r.status is None:
            parts.append(r.framing)
            continue
        f = {"CL": "", "interim": "", "chunked": " chunked",
             "close-delimited": " close-delim"}.get(r.framing, "")
        if r.framing.startswith("none"):
            f = " nobody"
        parts.append(f"{r.status}{f}" + ("" if r.complete else " (incomplete)"))
    runs = []  # "200,200,200" -> "200x3"
    for p in parts:
        if runs and runs[-1][0] == p:
            runs[-1][1] += 1
        else:
            runs.append([p, 1])
    s = ",".join(p if n == 1 else f"{p}x{n}" for p, n in runs) if runs else "-"
    return s + (" |closed" if res["closed"] else " |open")


def first_final(res):
    for r in res["_objs"]:
        if r.framing != "interim" and r.status is not None:
            return r
    return None


IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT$")


def rfc_problems(case, res):
    """Rules the RFC states as MUST (or the case's expectation) that failed."""
    probs = []
    objs = [r for r in res["_objs"] if r.status is not None]
    finals = [r for r in objs if r.framing != "interim"]
    ff = finals[0] if finals else None
    if case.expect is not None:
        got = ff.status if ff else None
        if got not in case.expect:
            probs.append(f"status {got} not in {sorted(case.expect, key=str)}")
    if case.must_close and ff is not None:
        # The follow-up must not be answered, and the connection must end.
        if len(finals) > 1:
            probs.append("answered a request after one that requires close")
        if not res["closed"]:
            probs.append("connection left open (MUST close)")
    if case.must_keep and ff is not None and len(finals) < 2:
        probs.append("pipelined follow-up not answered")
    for i, r in enumerate(finals):
        if not r.get("date") and r.status >= 200 and r.status < 500:
            probs.append(f"#{i} {r.status} without Date (RFC 9110 §6.6.1)")
        dates = r.get("date")
        if dates and not IMF_FIXDATE.match(dates[0]):
            probs.append(f"#{i} Date is not IMF-fixdate: {dates[0]!r}")
        if len(dates) > 1 or len(r.get("content-length")) > 1:
            probs.append(f"#{i} repeated Date or Content-Length")
        if r.status == 405 and not r.get("allow"):
            probs.append(f"#{i} 405 without Allow (RFC 9110 §15.5.6 MUST)")
        if r.status in (204, 304) and r.body:
            probs.append(f"#{i} {r.status} with a body")
        if i == 0 and case.http10 and r.framing == "chunked":
            probs.append("chunked response to an HTTP/1.0 request")
        if r.framing == "close-delimited" and r.status not in (101,) and not case.http10 \
                and r.status != 400:
            probs.append(f"#{i} {r.status} close-delimited (no Content-Length)")
    if any(r.status is None for r in res["_objs"][1:]):
        probs.append("bytes after a response that are no response "
                     "(content sent to HEAD, or a wrong Content-Length)")
    if case.http10 or case.no_interim:
        if any(r.framing == "interim" for r in objs):
            probs.append("1xx sent to an HTTP/1.0 client (RFC 9110 §15.2 MUST NOT)")
    if ff is not None and ff.status >= 400 and res["closed"] and len(finals) == 1:
        conn = ",".join(ff.get("connection")).lower()
        if "close" not in conn and ff.status != 408:
            probs.append(f"{ff.status} then close without 'Connection: close' (SHOULD)")
    return probs


# ----------------------------------------------------------------------------
# Spawning the servers.

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /hello {{ default_type text/plain; return 200 "Hello, world!\\n"; }}
    location = /echo {{ default_type text/plain; return 200 "echo\\n"; }}
  }}
}}
"""

H2O_CONF = """num-threads: 1
listen:
  host: 127.0.0.1
  port: {port}
hosts:
  default:
    paths:
      /:
        file.dir: {d}/root
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, secs=10):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def spawn_brisk(binary, extra):
    proc = subprocess.Popen([binary, "--address=127.0.0.1", "--port=0", "--workers=2"] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://[^:]+:(\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"brisk printed {line!r}")
    return proc, int(m.group(1))


def spawn_peers(d, spawned):
    """Starts nginx and h2o; each process goes into `spawned` (to be stopped
    by the caller) as soon as it exists, even if it then fails to listen."""
    procs = {}
    if shutil.which("nginx"):
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=port))
        p = subprocess.Popen(["nginx", "-p", d, "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        spawned.append(p)
        wait_port(port, p)
        procs["nginx"] = (p, port)
    if shutil.which("h2o"):
        port = free_port()
        os.makedirs(os.path.join(d, "root"), exist_ok=True)
        with open(os.path.join(d, "root", "hello"), "w") as f:
            f.write("Hello, world!\n")
        conf = os.path.join(d, "h2o.conf")
        with open(conf, "w") as f:
            f.write(H2O_CONF.format(d=d, port=port))
        p = subprocess.Popen(["h2o", "-c", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        spawned.append(p)
        wait_port(port, p)
        procs["h2o"] = (p, port)
    return procs


# ----------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", action="append", default=[],
                    help="name=host:port of a running server (repeatable)")
    ap.add_argument("--brisk", help="path of the brisk server binary to spawn")
    ap.add_argument("--brisk_flag", action="append", default=[])
    ap.add_argument("--peers", action="store_true", help="spawn nginx and h2o")
    ap.add_argument("--only", default="", help="regex on case names")
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--markdown", help="write the divergence table here")
    ap.add_argument("--all", action="store_true", help="print every case, not only divergences")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    cases = [c for c in build_cases() if re.search(args.only, c.name)]
    if args.list:
        for c in cases:
            print(f"{c.section:24} {c.name}")
        print(f"{len(cases)} cases")
        return 0

    targets = {}
    for t in args.target:
        name, _, hp = t.partition("=")
        h, _, p = hp.rpartition(":")
        targets[name] = (h, int(p))
    spawned = []
    tmp = tempfile.mkdtemp(prefix="conformance-")
    os.chmod(tmp, 0o755)  # h2o started as root serves files as nobody
    try:
        if args.brisk:
            p, port = spawn_brisk(args.brisk, args.brisk_flag)
            spawned.append(p)
            targets["brisk"] = ("127.0.0.1", port)
        if args.peers:
            for name, (p, port) in spawn_peers(tmp, spawned).items():
                targets[name] = ("127.0.0.1", port)
        if not targets:
            ap.error("no target: give --target, --brisk or --peers")
        names = list(targets)
        results = {n: {} for n in names}

        def worker(n):
            h, p = targets[n]
            for c in cases:
                try:
                    results[n][c.name] = run_case(c, h, p)
                except OSError as e:
                    results[n][c.name] = {"responses": [], "closed": True, "reset": True,
                                          "raw_len": 0, "error": str(e), "_objs": [],
                                          "interim_before_body": False}
        threads = [threading.Thread(target=worker, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for p in spawned:
            p.send_signal(signal.SIGTERM if p.args[0] != "nginx" else signal.SIGQUIT)
        for p in spawned:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    n_div = n_prob = 0
    for c in cases:
        sums = {n: summary(results[n][c.name]) for n in names}
        probs = {n: rfc_problems(c, results[n][c.name]) for n in names}
        differs = len(set(sums.values())) > 1
        brisk_alone = ("brisk" in sums and len(names) > 2 and
                       all(sums[n] != sums["brisk"] for n in names if n != "brisk"))
        flag = []
        if brisk_alone:
            flag.append("brisk-alone")
        if any(probs.values()):
            flag.append("rfc")
        n_div += differs
        n_prob += bool(probs.get("brisk"))
        if args.all or brisk_alone or any(probs.values()):
            rows.append((c, sums, probs, flag))

    out = []
    out.append("| section | case | " + " | ".join(names) + " | flags | problems |")
    out.append("|---" * (len(names) + 4) + "|")
    for c, sums, probs, flag in rows:
        pr = "; ".join(f"{n}: {', '.join(p)}" for n, p in probs.items() if p)
        out.append(f"| {c.section} | {c.name} | " + " | ".join(sums[n] for n in names)
                   + f" | {' '.join(flag)} | {pr} |")
    text = "\n".join(out)
    print(text)
    print(f"\n{len(cases)} cases; {n_div} differ between targets; "
          f"{n_prob} with a problem for brisk")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({n: {k: {kk: vv for kk, vv in v.items() if kk != "_objs"}
                           for k, v in results[n].items()} for n in names}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
