#!/usr/bin/env python3
"""A mixed-fault soak of the brisk server binary.

Starts the server (plain epoll, io_uring, TLS: one instance per mode, in
turn) on 127.0.0.1, port 0, with small limits and timeouts so they are hit
often, and for a fixed time runs many concurrent client tasks. Each task
repeatedly picks a behaviour at random from a seeded RNG: pipelined echo
POSTs (Content-Length and chunked, in random-sized writes), HEAD and GET,
/slow with and without a budget header, Expect: 100-continue, malformed
requests, slowloris, clients that stop reading, that reset mid-request or
mid-answer, that half-close, event streams (some abandoned), scrapes of
/metrics, /status.json and /readyz; SIGHUP rotates the access log a few
times. It checks invariants, never timings (except a generous slack on the
one real-time promise):

  * every answer is well-formed HTTP/1.1 (status line, fields, framing);
  * nothing mixed: each echo answer carries exactly the body of the request
    it answers, in order, or is a 503;
  * a 2xx from /slow arrives within its deadline (+ slack) from the send;
    otherwise 503 (deadline exceeded, or a refusal with Retry-After);
  * bad input gets the right 4xx, `Connection: close` and a closed
    connection, and the request behind it is not answered;
  * the server stays alive and answers /hello during the whole run; at the
    end open connections and in-flight requests return to rest, SIGTERM
    exits 0 within --drain_timeout, and stderr holds no sanitizer report
    and no failed CHECK.

A failure names the seed, the mode, the behaviour, the client and its
iteration. Python 3 standard library only; loopback only; every wait is
bounded; it stops what it started (by pid).

  tools/bazel test //tools/soak:soak_test
  tools/soak/soak.py bazel-bin/server/server --duration=300 --seed=42
"""

import argparse
import asyncio
import collections
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

# Server flags: limits and timeouts small enough to be hit often.
HEADER_TIMEOUT_S = 1.0
IDLE_TIMEOUT_S = 2.0
WRITE_TIMEOUT_S = 1.0
REQUEST_DEADLINE_MS = 300
MAX_HEADER_BYTES = 4096
MAX_BODY_BYTES = 65536
DRAIN_TIMEOUT_S = 5.0
SERVER_FLAGS = [
    "--address=127.0.0.1", "--port=0", "--reactors=2", "--workers=2",
    "--queue_capacity=64", f"--header_timeout={HEADER_TIMEOUT_S:g}s",
    f"--idle_timeout={IDLE_TIMEOUT_S:g}s",
    f"--write_timeout={WRITE_TIMEOUT_S:g}s",
    f"--request_deadline={REQUEST_DEADLINE_MS}ms",
    f"--max_header_bytes={MAX_HEADER_BYTES}",
    f"--max_body_bytes={MAX_BODY_BYTES}",
    f"--drain_timeout={DRAIN_TIMEOUT_S:g}s", "--drain_grace=0s",
]

# No answer and no close for this long, while every server timeout is at
# most 2 s, is a hang (sanitizer builds on a busy VM included).
IO_TIMEOUT_S = 15.0
# One behaviour, whatever it does, ends within this.
BEHAVIOUR_TIMEOUT_S = 45.0

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "WARNING: ThreadSanitizer", "runtime error:",
                     "CHECK failed")

HELLO_BODY = b"Hello, World!\n"


class Violation(Exception):
    """An invariant did not hold."""


class Closed(Exception):
    """The connection ended before any byte of a response."""


class Truncated(Exception):
    """The connection ended inside a response."""


# ----------------------------------------------------------------- HTTP


class Response:
    def __init__(self, status, reason, headers):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(lowercase name, value str)]
        self.body = b""
        self.t_head = time.monotonic()
        self.t_end = None

    def get(self, name):
        values = [v for n, v in self.headers if n == name]
        return ",".join(values) if values else None

    @property
    def closes(self):
        conn = self.get("connection") or ""
        return "close" in [t.strip().lower() for t in conn.split(",")]

    def brief(self):
        return f"{self.status} {self.body[:60]!r}{'...' if len(self.body) > 60 else ''}"


TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)")


async def io(awaitable, what="an answer or a close"):
    """Awaits with the hang bound: no progress for IO_TIMEOUT_S fails."""
    try:
        return await asyncio.wait_for(awaitable, IO_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise Violation(f"no {what} within {IO_TIMEOUT_S:g}s (hang)") from None


async def read_line(reader, what):
    try:
        line = await io(reader.readuntil(b"\r\n"))
    except asyncio.IncompleteReadError as e:
        if what == "status" and not e.partial:
            raise Closed() from None
        raise Truncated(f"connection ended inside the {what} line: "
                        f"{e.partial[:80]!r}") from None
    except asyncio.LimitOverrunError:
        raise Violation(f"{what} line longer than 64 KiB") from None
    return line[:-2]


async def read_exactly(reader, n, what):
    try:
        return await io(reader.readexactly(n))
    except asyncio.IncompleteReadError as e:
        raise Truncated(f"connection ended inside the {what} "
                        f"({len(e.partial)} of {n} bytes)") from None


async def read_head(reader):
    """Reads a status line and the fields; raises Closed at a clean EOF."""
    line = await read_line(reader, "status")
    m = STATUS_LINE.fullmatch(line)
    if not m:
        raise Violation(f"malformed status line {line[:100]!r}")
    headers = []
    while True:
        line = await read_line(reader, "field")
        if not line:
            break
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise Violation(f"malformed field line {line[:100]!r}")
        if len(headers) > 100:
            raise Violation("more than 100 fields in a response")
        headers.append((name.decode().lower(),
                        value.strip(b" \t").decode("latin-1")))
    r = Response(int(m.group(1)), m.group(2).decode("latin-1"), headers)
    if len([1 for n, _ in headers if n == "content-length"]) > 1:
        raise Violation(f"{r.status}: repeated Content-Length")
    if r.get("content-length") is not None and r.get("transfer-encoding"):
        raise Violation(f"{r.status}: both Content-Length and Transfer-Encoding")
    return r


async def read_body(reader, r, method):
    """Reads r's body per RFC 9112 §6.3 framing."""
    if r.status < 200 or r.status in (204, 304) or method == "HEAD":
        pass
    elif r.get("transfer-encoding") is not None:
        if r.get("transfer-encoding").lower() != "chunked":
            raise Violation(f"unexpected Transfer-Encoding "
                            f"{r.get('transfer-encoding')!r}")
        parts = []
        while True:
            line = await read_line(reader, "chunk size")
            size_text = line.split(b";", 1)[0]
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,15}", size_text):
                raise Violation(f"malformed chunk size {line[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                while await read_line(reader, "trailer"):
                    pass
                break
            data = await read_exactly(reader, size + 2, "chunk")
            if data[-2:] != b"\r\n":
                raise Violation("chunk data not followed by CRLF")
            parts.append(data[:-2])
        r.body = b"".join(parts)
    elif r.get("content-length") is not None:
        cl = r.get("content-length")
        if not cl.isdigit():
            raise Violation(f"malformed Content-Length {cl!r}")
        r.body = await read_exactly(reader, int(cl), "body")
    else:
        raise Violation(f"{r.status} answer without framing (close-delimited)")
    r.t_end = time.monotonic()
    return r


async def read_response(reader, method="GET"):
    r = await read_head(reader)
    return await read_body(reader, r, method)


async def read_final(reader, method="GET"):
    """Reads one final response; 1xx before it are returned as a count."""
    interim = 0
    while True:
        r = await read_response(reader, method)
        if r.status >= 200:
            return r, interim
        if r.status != 100:
            raise Violation(f"unexpected interim status {r.status}")
        interim += 1


async def expect_eof(reader, after):
    """The connection must end (EOF) with no more bytes after `after`."""
    try:
        data = await io(reader.read(65536), "close")
    except ConnectionResetError:
        raise Violation(f"reset instead of a clean close after {after}") from None
    if data:
        raise Violation(f"bytes after {after}, which should have closed: "
                        f"{data[:80]!r}")


def request(method, target, headers=(), body=None, chunked_sizes=None,
            host="soak"):
    """Serializes a request; chunked_sizes splits the body into chunks."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{n}: {v}" for n, v in headers]
    out = []
    if body is not None and chunked_sizes is not None:
        lines.append("Transfer-Encoding: chunked")
        pos = 0
        for size in chunked_sizes:
            out.append(b"%x\r\n%s\r\n" % (size, body[pos:pos + size]))
            pos += size
        assert pos == len(body)
        out.append(b"0\r\n\r\n")
    elif body is not None:
        lines.append(f"Content-Length: {len(body)}")
        out.append(body)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + b"".join(out)


def random_splits(rng, total, max_piece):
    sizes = []
    while total > 0:
        n = min(total, rng.randint(1, max_piece))
        sizes.append(n)
        total -= n
    return sizes


# ----------------------------------------------------------- connections


class Conn:
    """One client connection (plain or TLS) with its raw socket at hand."""

    def __init__(self, reader, writer, sock):
        self.reader = reader
        self.writer = writer
        self.sock = sock

    @classmethod
    async def open(cls, target, rcvbuf=None):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await io(asyncio.get_running_loop().sock_connect(
                sock, (target.host, target.port)), "connect")
            reader, writer = await io(asyncio.open_connection(
                sock=sock, ssl=target.ssl_context,
                server_hostname="localhost" if target.ssl_context else None),
                "TLS handshake")
        except BaseException:
            sock.close()
            raise
        return cls(reader, writer, sock)

    async def send(self, data, rng=None, max_piece=4096, max_pause_s=0.003):
        """Writes data, in random pieces with small pauses when rng is given."""
        if rng is None:
            self.writer.write(data)
            await io(self.writer.drain(), "send progress")
            return
        pos = 0
        while pos < len(data):
            n = rng.randint(1, max_piece)
            self.writer.write(data[pos:pos + n])
            pos += n
            await io(self.writer.drain(), "send progress")
            if pos < len(data) and rng.random() < 0.5:
                await asyncio.sleep(rng.uniform(0, max_pause_s))

    def widen_receive_buffer(self):
        """Back to a normal receive window before reading what was held
        back: a 4 KiB buffer under a 64 KiB loopback MSS leaves the server's
        kernel probing a zero window with exponential backoff (seconds per
        segment once the client is slow to read), which is TCP, not brisk."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            pass  # already closed (a 503 that said Connection: close)

    def half_close(self):
        self.writer.write_eof()

    def reset(self):
        """SO_LINGER 0 + close: the kernel sends RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.writer.transport.abort()

    def close(self):
        self.writer.close()


# ------------------------------------------------------------- behaviours


class Ctx:
    """One behaviour run: its RNG, connections, and where results go."""

    def __init__(self, run, rng, behaviour, client, iteration):
        self.run = run
        self.rng = rng
        self.behaviour = behaviour
        self.client = client
        self.iteration = iteration
        self.conns = []
        self.uid = f"c{client}i{iteration}"
        self.behaviour_detail = None
        self.progress = ""  # where a behaviour is, for a timeout's message

    async def connect(self, rcvbuf=None):
        c = await Conn.open(self.run.target, rcvbuf)
        self.conns.append(c)
        return c

    def status(self, code):
        self.run.statuses[self.behaviour][code] += 1

    def outcome(self, what):
        self.run.outcomes[self.behaviour][what] += 1

    def variant(self, name):
        """Names the variant chosen: counted, and named in a failure."""
        self.behaviour_detail = name
        self.outcome(name)

    def close_all(self):
        for c in self.conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing what may be broken
                pass


def check_503(r, what):
    """A 503 is a refusal (Retry-After) or a missed deadline; nothing else."""
    if r.status != 503:
        raise Violation(f"{what}: status {r.brief()}, expected 200 or 503")
    if r.get("retry-after") is None and r.body != b"deadline exceeded\n":
        raise Violation(f"{what}: 503 without Retry-After that is not "
                        f"'deadline exceeded': {r.brief()}")


def echo_body(ctx, j):
    n = ctx.rng.choice([0, 1, 10, 100, 1000, 5000]) + ctx.rng.randint(0, 999)
    if ctx.rng.random() < 0.1:
        n = ctx.rng.randint(20000, MAX_BODY_BYTES - 100)
    tag = f"<{ctx.uid}r{j}>".encode()
    return (tag + ctx.rng.randbytes(max(0, n - len(tag))))[:max(n, len(tag))]


def echo_request(ctx, body, close=False):
    headers = [("Content-Type", "application/octet-stream")]
    if close:
        headers.append(("Connection", "close"))
    chunked = None
    if ctx.rng.random() < 0.5:
        chunked = random_splits(ctx.rng, len(body), 3000)
    return request("POST", "/echo", headers, body, chunked)


async def b_echo_pipeline(ctx):
    """Pipelined echo POSTs: every answer is its own request's body, in order."""
    c = await ctx.connect()
    depth = ctx.rng.randint(1, 6)
    bodies = [echo_body(ctx, j) for j in range(depth)]
    last_close = ctx.rng.random() < 0.2
    reqs = [echo_request(ctx, b, close=last_close and j == depth - 1)
            for j, b in enumerate(bodies)]
    pipelined = ctx.rng.random() < 0.7
    ended = {"closed_by": None}

    async def writer():
        try:
            if pipelined:
                await c.send(b"".join(reqs), ctx.rng)
            else:
                for j, req in enumerate(reqs):
                    await c.send(req, ctx.rng)
                    await answered[j].wait()
                    if ended["closed_by"] is not None:
                        return
        except (ConnectionError, BrokenPipeError):
            if ended["closed_by"] is None:
                raise

    answered = [asyncio.Event() for _ in reqs]
    wtask = asyncio.ensure_future(writer())
    try:
        for j, body in enumerate(bodies):
            r = await read_response(c.reader, "POST")
            ctx.status(r.status)
            answered[j].set()
            if r.status == 200:
                if r.body != body:
                    raise Violation(
                        f"echo {j + 1}/{depth} answered with another body: "
                        f"sent {len(body)} bytes {body[:24]!r}, got "
                        f"{len(r.body)} bytes {r.body[:24]!r}")
            else:
                check_503(r, f"echo {j + 1}/{depth}")
            if r.closes:
                if j != depth - 1 and r.status == 200:
                    raise Violation(f"echo {j + 1}/{depth}: 200 with "
                                    "Connection: close before the last request")
                ended["closed_by"] = r.status
                for e in answered:
                    e.set()
                await expect_eof(c.reader, f"answer {j + 1} (Connection: close)")
                ctx.outcome("closed_early" if j != depth - 1 else "closed")
                return
        if last_close:
            raise Violation("the last request said Connection: close, the "
                            "answer did not")
        ctx.outcome("pipelined" if pipelined else "sequential")
        await io(wtask, "send completion")
    finally:
        if not wtask.done():
            wtask.cancel()
        try:
            await wtask
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


async def b_hello_head(ctx):
    """HEAD and GET of /hello and /, keep-alive, sequential or pipelined."""
    c = await ctx.connect()
    n = ctx.rng.randint(1, 8)
    reqs = [ctx.rng.choice([("GET", "/hello"), ("HEAD", "/hello"),
                            ("HEAD", "/"), ("GET", "/")]) for _ in range(n)]
    pipelined = ctx.rng.random() < 0.5
    if pipelined:
        await c.send(b"".join(request(m, p) for m, p in reqs), ctx.rng)
    for m, p in reqs:
        if not pipelined:
            await c.send(request(m, p), ctx.rng)
        r = await read_response(c.reader, m)
        ctx.status(r.status)
        if r.status != 200:
            raise Violation(f"{m} {p}: {r.brief()}")
        if p == "/hello":
            if m == "GET" and r.body != HELLO_BODY:
                raise Violation(f"GET /hello body {r.body[:60]!r}")
            if r.get("content-length") != str(len(HELLO_BODY)):
                raise Violation(f"{m} /hello Content-Length "
                                f"{r.get('content-length')!r}")
        if m == "HEAD" and r.body:
            raise Violation(f"HEAD {p} carried a body")
    ctx.outcome("pipelined" if pipelined else "sequential")


def check_2xx_in_time(ctx, r, t_send, deadline, what):
    """A 2xx arrived within its deadline + slack (less the client's stalls)."""
    elapsed_ms = (r.t_head - t_send) * 1000
    late = elapsed_ms - deadline
    stalled_ms = ctx.run.client_stalls_ms(t_send, r.t_head)
    ctx.run.note_lateness(late, late - stalled_ms, what)
    if late - stalled_ms > ctx.run.slack_ms:
        raise Violation(f"{what}: 2xx {elapsed_ms:.0f} ms after the send, "
                        f"{late:.0f} ms after its deadline, "
                        f"{late - stalled_ms:.0f} ms without the client's own "
                        f"stalls (slack {ctx.run.slack_ms} ms)")


async def head_of_line(ctx, c):
    """GET /slow?ms=280, then a small echo with a 1-40 ms budget, pipelined.

    The echo's answer is ready at once (its route costs microseconds, so it
    is admitted) but can leave only after the sleep's: it must be a 503, or
    a 2xx within its own deadline if the first was refused at once.
    """
    budget = ctx.rng.randint(1, 40)
    body = echo_body(ctx, 1)[:200]
    t_send = time.monotonic()
    await c.send(request("GET", "/slow?ms=280") + request(
        "POST", "/echo", [("X-Request-Budget-Ms", str(budget))], body))
    first = await read_response(c.reader)
    ctx.status(first.status)
    if first.status == 200:
        ctx.outcome("blocked")  # the case this is after
    else:
        check_503(first, "GET /slow?ms=280")
    if first.closes:
        await expect_eof(c.reader, "a closing /slow answer")
        return
    r = await read_response(c.reader, "POST")
    ctx.status(r.status)
    what = f"echo with a {budget} ms budget behind /slow?ms=280"
    if r.status == 200:
        if r.body != body:
            raise Violation(f"{what}: another body")
        check_2xx_in_time(ctx, r, t_send, budget, what)
    else:
        check_503(r, what)


async def b_slow_deadline(ctx):
    """/slow pipelined 1-3 deep: a 2xx within its deadline, else 503.

    A quarter of the runs are head_of_line (below); the rest mix sleeps
    and budgets at random.
    """
    c = await ctx.connect()
    if ctx.rng.random() < 0.25:
        ctx.variant("head_of_line")
        await head_of_line(ctx, c)
        return
    n = ctx.rng.randint(1, 3)
    plan = []
    for _ in range(n):
        ms = ctx.rng.choice([0, 1, 5, 20, 50, 100, 200, 280, 350])
        kind = ctx.rng.random()
        headers, deadline = [], REQUEST_DEADLINE_MS
        if kind < 0.4:
            budget = ctx.rng.randint(1, 400)
            headers = [("X-Request-Budget-Ms", str(budget))]
            deadline = min(REQUEST_DEADLINE_MS, budget)
        elif kind < 0.5:  # ignored: not a positive whole number
            headers = [("X-Request-Budget-Ms",
                        ctx.rng.choice(["0", "-5", "1.5", "abc", "10, 20"]))]
        plan.append((ms, deadline, request("GET", f"/slow?ms={ms}", headers)))
    sent = []
    for ms, deadline, req in plan:
        sent.append(time.monotonic())
        await c.send(req)
    for (ms, deadline, _), t_send in zip(plan, sent):
        r = await read_response(c.reader)
        ctx.status(r.status)
        what = f"GET /slow?ms={ms} deadline {deadline} ms"
        if 200 <= r.status < 300:
            if r.body != f"slept {ms} ms\n".encode():
                raise Violation(f"{what}: body {r.body[:60]!r}")
            check_2xx_in_time(ctx, r, t_send, deadline, what)
            ctx.outcome("in_time")
        else:
            check_503(r, what)
            ctx.outcome("503")
        if r.closes:
            await expect_eof(c.reader, "a closing /slow answer")
            return


async def b_expect_continue(ctx):
    """Expect: 100-continue, waiting for the 100 or not; refusals at once."""
    c = await ctx.connect()
    variant = ctx.rng.choice(["wait", "wait", "nowait", "nowait", "no_route",
                              "too_large"])
    ctx.variant(variant)
    body = echo_body(ctx, 0)
    if variant == "no_route":
        await c.send(request("POST", "/no-such-route",
                             [("Expect", "100-continue"),
                              ("Content-Length", "10")]))
        r, interim = await read_final(c.reader, "POST")
        ctx.status(r.status)
        if r.status != 404 or interim or not r.closes:
            raise Violation(f"Expect to no route: {r.brief()}, {interim} x "
                            "100, close={r.closes}; expected 404 at once with "
                            "Connection: close")
        await expect_eof(c.reader, "404 to an Expect request")
        return
    if variant == "too_large":
        await c.send(request("POST", "/echo",
                             [("Expect", "100-continue"),
                              ("Content-Length", str(MAX_BODY_BYTES + 1))]))
        r, interim = await read_final(c.reader, "POST")
        ctx.status(r.status)
        if r.status != 413 or interim or not r.closes:
            raise Violation(f"Expect with too large a body: {r.brief()}, "
                            f"{interim} x 100; expected 413 at once and close")
        await expect_eof(c.reader, "413 to an Expect request")
        return
    head = request("POST", "/echo", [("Expect", "100-continue"),
                                     ("Content-Length", str(len(body)))])
    if variant == "wait":
        await c.send(head)
        r = await read_response(c.reader, "POST")
        if r.status == 100:
            await c.send(body, ctx.rng)
            r, interim = await read_final(c.reader, "POST")
            if interim:
                raise Violation(f"{interim} more 100 after the first")
        elif r.status < 200:
            raise Violation(f"interim {r.status} instead of 100")
    else:
        await c.send(head + body, ctx.rng)
        r, interim = await read_final(c.reader, "POST")
        if interim > 1:
            raise Violation(f"{interim} x 100 Continue to one request")
    ctx.status(r.status)
    if r.status == 200:
        if r.body != body:
            raise Violation(f"Expect echo answered with another body "
                            f"({len(r.body)} bytes, sent {len(body)})")
    else:
        check_503(r, "Expect echo")
    if r.closes:
        await expect_eof(c.reader, "a closing echo answer")


# Malformed requests: (name, bytes, statuses allowed, accepted_ok). An error
# status must come with Connection: close and a close; the GET /hello sent
# behind it must not be answered. accepted_ok: RFC 9112 lets a server take
# the request as valid (a bare LF as a line end, obs-fold as SP, ...); then
# the answer is /hello's or /echo's and the connection stays open.
H = "Host: soak\r\n"
MALFORMED = [
    ("request_line_extra", f"GET /hello HTTP/1.1 x\r\n{H}\r\n", {400}, False),
    ("request_line_garbage", "GARBAGE\r\n\r\n", {400}, False),
    ("request_line_double_space", f"GET  /hello HTTP/1.1\r\n{H}\r\n", {400}, False),
    ("method_bad_char", f"G(T /hello HTTP/1.1\r\n{H}\r\n", {400}, False),
    ("version_bad", f"GET /hello HTTP/1.x\r\n{H}\r\n", {400, 505}, False),
    ("version_2", f"GET /hello HTTP/2.0\r\n{H}\r\n", {505}, False),
    ("no_host", "GET /hello HTTP/1.1\r\n\r\n", {400}, False),
    ("two_hosts", f"GET /hello HTTP/1.1\r\n{H}Host: b\r\n\r\n", {400}, False),
    ("space_before_colon", "GET /hello HTTP/1.1\r\nHost : soak\r\n\r\n", {400}, False),
    ("space_in_name", f"GET /hello HTTP/1.1\r\n{H}X A: 1\r\n\r\n", {400}, False),
    ("field_without_colon", f"GET /hello HTTP/1.1\r\n{H}NoColon\r\n\r\n", {400}, False),
    ("obs_fold", f"GET /hello HTTP/1.1\r\n{H}X-A: 1\r\n 2\r\n\r\n", {400}, True),
    ("nul_in_value", f"GET /hello HTTP/1.1\r\n{H}X-A: a\x00b\r\n\r\n", {400}, False),
    ("bare_cr_in_value", f"GET /hello HTTP/1.1\r\n{H}X-A: a\rb\r\n\r\n", {400}, True),
    ("bare_lf_request_line", f"GET /hello HTTP/1.1\n{H}\r\n", {400}, True),
    ("bare_lf_everywhere", "GET /hello HTTP/1.1\nHost: soak\n\n", {400}, True),
    ("bare_lf_field", f"GET /hello HTTP/1.1\r\n{H}X-A: 1\n\r\n", {400}, True),
    ("bad_chunk_size", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: chunked"
     "\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", {400}, False),
    ("chunk_size_overflow", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: "
     "chunked\r\n\r\nfffffffffffffffffffff\r\n", {400, 413}, False),
    ("chunk_without_crlf", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: "
     "chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", {400}, False),
    ("chunk_size_bare_lf", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: "
     "chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", {400}, True),
    # RFC 9112 §6.1: reject, or let Transfer-Encoding win and close after.
    ("cl_and_te", f"POST /echo HTTP/1.1\r\n{H}Content-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}, "close"),
    ("te_not_chunked", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: gzip"
     "\r\n\r\n", {400, 501}, False),
    ("te_chunked_not_last", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: "
     "chunked, gzip\r\n\r\n", {400, 501}, False),
    ("cl_conflicting", f"POST /echo HTTP/1.1\r\n{H}Content-Length: 3\r\n"
     "Content-Length: 4\r\n\r\nabcd", {400}, False),
    ("cl_negative", f"POST /echo HTTP/1.1\r\n{H}Content-Length: -1\r\n\r\n",
     {400}, False),
    ("cl_plus", f"POST /echo HTTP/1.1\r\n{H}Content-Length: +3\r\n\r\nabc",
     {400}, False),
    ("cl_hex", f"POST /echo HTTP/1.1\r\n{H}Content-Length: 0x3\r\n\r\nabc",
     {400}, False),
    ("oversized_field", f"GET /hello HTTP/1.1\r\n{H}X-Big: "
     + "a" * (MAX_HEADER_BYTES + 100) + "\r\n\r\n", {431}, False),
    ("oversized_many_fields", f"GET /hello HTTP/1.1\r\n{H}"
     + "".join(f"X-F{i}: {'b' * 40}\r\n" for i in range(MAX_HEADER_BYTES // 40))
     + "\r\n", {431}, False),
    # The request line's limit is its own (8 KiB), not --max_header_bytes.
    ("oversized_target", "GET /" + "t" * 8300 + f" HTTP/1.1\r\n{H}\r\n",
     {414}, False),
    ("oversized_content_length", f"POST /echo HTTP/1.1\r\n{H}Content-Length: "
     f"{MAX_BODY_BYTES + 1}\r\n\r\n", {413}, False),
    ("oversized_chunked", f"POST /echo HTTP/1.1\r\n{H}Transfer-Encoding: "
     "chunked\r\n\r\n" + f"4000\r\n{'c' * 0x4000}\r\n" * 5 + "0\r\n\r\n",
     {413}, False),
]
FOLLOW_UP = request("GET", "/hello")


async def b_malformed(ctx):
    """Bad input: the right 4xx, Connection: close, closed, nothing after."""
    name, raw, statuses, accepted_ok = ctx.rng.choice(MALFORMED)
    ctx.variant(name)
    c = await ctx.connect()
    lead = ctx.rng.random() < 0.3  # a good request first, on the same conn
    data = (FOLLOW_UP if lead else b"") + raw.encode("latin-1") + FOLLOW_UP
    try:
        await c.send(data, ctx.rng, max_piece=2048)
    except ConnectionError as e:
        # The server answers and closes as soon as it knows (413 on a head,
        # a limit in the middle of a body). Over plain TCP it lingers, so the
        # rest still goes in; asyncio's TLS transport ends the whole
        # connection at the server's close_notify, so later writes fail.
        if ctx.run.target.ssl_context is None:
            raise Violation(f"{name}: sending failed ({e}): the server reset "
                            "instead of a lingering close") from None
    if lead:
        r = await read_response(c.reader)
        if r.status != 200 or r.body != HELLO_BODY:
            raise Violation(f"{name}: the good request before it got {r.brief()}")
    method = "POST" if raw.startswith("POST") else "GET"
    try:
        r = await read_response(c.reader, method)
    except Closed:
        raise Violation(f"{name}: closed without an answer") from None
    ctx.status(r.status)
    if r.status in statuses:
        if not r.closes:
            raise Violation(f"{name}: {r.status} without Connection: close")
        await expect_eof(c.reader, f"{name}'s {r.status}")
        return
    if accepted_ok and 200 <= r.status < 300:
        # Taken as valid: the follow-up must be answered, unless it had to
        # close (CL + TE).
        if accepted_ok == "close":
            if not r.closes:
                raise Violation(f"{name}: accepted without closing after it")
            await expect_eof(c.reader, f"{name}'s answer")
            return
        f = await read_response(c.reader)
        if f.status != 200 or f.body != HELLO_BODY:
            raise Violation(f"{name}: accepted, then the follow-up got {f.brief()}")
        return
    raise Violation(f"{name}: got {r.brief()}, expected one of "
                    f"{sorted(statuses)}")


async def b_slowloris(ctx):
    """Headers dribbled past --header_timeout: 408 or a close."""
    c = await ctx.connect()
    silent = ctx.rng.random() < 0.3  # sends nothing at all
    ctx.variant("silent" if silent else "dribble")
    t0 = time.monotonic()

    async def dribble():
        try:
            if silent:
                return
            await c.send(b"GET /hello HTTP/1.1\r\nHost: soak\r\n")
            for i in range(40):
                await asyncio.sleep(0.2)
                await c.send(b"X-Drip-%d: x\r\n" % i)
        except (ConnectionError, BrokenPipeError):
            pass

    task = asyncio.ensure_future(dribble())
    try:
        try:
            r = await read_response(c.reader)
        except (Closed, ConnectionResetError):
            ctx.status("close")
            return
        ctx.status(r.status)
        if r.status != 408 or not r.closes:
            raise Violation(f"slowloris got {r.brief()}, expected 408 + close")
        await expect_eof(c.reader, "408")
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        ctx.run.note("slowloris_cut_s", time.monotonic() - t0)


async def b_stop_reading(ctx):
    """Large answers not read for longer than the write timeout.

    Up to ~4.7 MB of pipelined echo answers (more than loopback's 4 MiB
    send buffer when most are 200s: the write timeout then closes the
    connection and the answers read are a correct prefix; requests stop
    once the server stops taking them), or a ~0.5 MB event stream (more
    than a stream's 256 KiB buffer: read late, complete and in order, or
    cut). Either way the connection ends: no hang, nothing mixed.
    """
    c = await ctx.connect(rcvbuf=4096)
    if ctx.rng.random() < 0.25:
        ctx.behaviour_detail = "events"
        n = 10000
        r = await events_head(ctx, c, n, 0, WRITE_TIMEOUT_S + 1.5, "events_")
        c.widen_receive_buffer()
        if r is None:
            return
        ctx.progress = "(reading the event stream)"
        try:
            await read_body(c.reader, r, "GET")
        except (Truncated, ConnectionResetError):
            ctx.outcome("events_cut")  # the write timeout closed it
            return
        check_events(r.body, n)
        ctx.outcome("events_complete")
        return
    ctx.behaviour_detail = "echo"
    bodies = [f"<{ctx.uid}r{j}>".encode() + ctx.rng.randbytes(MAX_BODY_BYTES - 100)
              for j in range(72)]
    t0 = time.monotonic()
    sent = 0
    try:
        # Until the server stops taking input (it is stuck writing to us),
        # or for 4 s at most (a slow sanitizer build keeps taking it).
        for body in bodies:
            c.writer.write(request("POST", "/echo", [], body))
            sent += 1
            left = t0 + 4 - time.monotonic()
            if left <= 0:
                break
            await asyncio.wait_for(c.writer.drain(), left)
    except (asyncio.TimeoutError, ConnectionError, BrokenPipeError):
        pass
    del bodies[sent:]  # what the transport holds still goes, nothing more
    await asyncio.sleep(WRITE_TIMEOUT_S + 1.5)
    c.widen_receive_buffer()
    got = 0
    try:
        for j, body in enumerate(bodies):
            ctx.progress = (f"(reading answer {j + 1} of {len(bodies)}, "
                            f"{time.monotonic() - t0:.1f} s in)")
            r = await read_response(c.reader, "POST")
            ctx.status(r.status)
            got += 1
            if r.status == 200:
                if r.body != body:
                    raise Violation(f"stalled echo {j + 1}: another body")
            else:
                check_503(r, f"stalled echo {j + 1}")
            if r.closes:
                break
    except (Closed, Truncated, ConnectionResetError):
        ctx.outcome("echo_cut")  # the write timeout closed it
        return
    # Not cut: the kernel took every answer (or a 503 closed it). The
    # connection must still end rather than hang.
    ctx.outcome("echo_all_read")
    await expect_eof(c.reader, "the last stalled answer")


async def b_reset(ctx):
    """SO_LINGER 0 + close mid-request, mid-body, mid-answer, mid-handler."""
    c = await ctx.connect()
    variant = ctx.rng.choice(["mid_head", "mid_body", "mid_answer",
                              "mid_handler", "mid_stream"])
    ctx.variant(variant)
    try:
        if variant == "mid_head":
            req = request("GET", "/hello", [("X-Pad", "p" * 500)])
            await c.send(req[:ctx.rng.randint(1, len(req) - 1)], ctx.rng)
        elif variant == "mid_body":
            body = ctx.rng.randbytes(30000)
            req = request("POST", "/echo", [], body)
            await c.send(req[:ctx.rng.randint(len(req) - 30000, len(req) - 1)],
                         ctx.rng)
        elif variant == "mid_answer":
            body = ctx.rng.randbytes(MAX_BODY_BYTES - 1000)
            await c.send(request("POST", "/echo", [], body) * 3)
            await io(c.reader.read(ctx.rng.randint(1, 2000)))
        elif variant == "mid_handler":
            await c.send(request("GET", "/slow?ms=200"))
        else:
            await c.send(request("GET", "/events?n=50&ms=10"))
            await io(c.reader.read(ctx.rng.randint(1, 300)))
        await asyncio.sleep(ctx.rng.uniform(0, 0.05))
    except (ConnectionError, BrokenPipeError):
        pass
    c.reset()


async def b_half_close(ctx):
    """Requests, then shutdown(SHUT_WR): every answer comes, then EOF."""
    c = await ctx.connect()
    k = ctx.rng.randint(1, 5)
    with_echo = ctx.rng.random() < 0.5
    reqs = [("GET", request("GET", "/hello"), HELLO_BODY) for _ in range(k)]
    if with_echo:
        body = echo_body(ctx, 0)
        reqs.append(("POST", request("POST", "/echo", [], body), body))
    await c.send(b"".join(r for _, r, _ in reqs), ctx.rng)
    c.half_close()
    got = 0
    for method, _, expected in reqs:
        try:
            r = await read_response(c.reader, method)
        except Closed:
            break
        ctx.status(r.status)
        if r.status == 200:
            if r.body != expected:
                raise Violation(f"half-close answer {got + 1}: another body")
        elif method == "POST":
            check_503(r, "half-closed echo")  # refused under load
        else:
            raise Violation(f"half-close /hello {got + 1}: {r.brief()}")
        got += 1
        if r.closes:
            break
    if got < len(reqs):
        raise Violation(f"half-closed after {len(reqs)} requests: only {got} "
                        "answered (what a client sent whole is answered)")
    ctx.outcome("echo_answered" if with_echo else "all_inline")
    await expect_eof(c.reader, "the answers to a half-closed connection")


EVENT = re.compile(rb"data: event (\d+) of (\d+)\n")


async def events_head(ctx, c, n, ms, pause_s=0, prefix=""):
    """GET /events?n=&ms=, then (after pause_s unread) its head: None if it
    was a (well-formed) 503."""
    await c.send(request("GET", f"/events?n={n}&ms={ms}"))
    if pause_s:
        await asyncio.sleep(pause_s)
    r = await read_head(c.reader)
    ctx.status(r.status)
    if r.status == 200:
        return r
    await read_body(c.reader, r, "GET")
    check_503(r, f"/events?n={n}&ms={ms}")
    ctx.outcome(prefix + "503")
    return None


def check_events(body, n):
    """The stream holds events 1..n of n, each once, in order."""
    seen = [(int(a), int(b)) for a, b in EVENT.findall(body)]
    if seen != [(i, n) for i in range(1, n + 1)]:
        bad = next((i for i, e in enumerate(seen) if e != (i + 1, n)), len(seen))
        raise Violation(f"/events?n={n}: {len(seen)} events, first wrong at "
                        f"{bad}: {seen[bad:bad + 3]}")


async def b_events(ctx):
    """SSE streams read to the end (every event, in order) or abandoned."""
    c = await ctx.connect()
    n, ms = ctx.rng.randint(1, 20), ctx.rng.choice([0, 1, 10, 50])
    abandon = ctx.rng.random() < 0.4
    r = await events_head(ctx, c, n, ms)
    if r is None:
        return
    if abandon:
        await io(c.reader.read(ctx.rng.randint(1, 200)))
        if ctx.rng.random() < 0.5:
            c.reset()
        ctx.outcome("abandoned")
        return
    await read_body(c.reader, r, "GET")
    check_events(r.body, n)
    ctx.outcome("complete")


METRIC_LINE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})? "
                         r"(-?[0-9.eE+-]+|[+-]?Inf|NaN)")


def parse_metrics(text):
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not METRIC_LINE.fullmatch(line):
            raise Violation(f"/metrics: malformed line {line[:100]!r}")
        key, value = line.rsplit(" ", 1)
        values[key] = float(value)
    return values


async def b_scrape(ctx):
    """/metrics parses, /status.json parses, /readyz and /healthz are 200."""
    c = await ctx.connect()
    paths = ["/metrics", "/status.json", "/readyz", "/healthz"]
    ctx.rng.shuffle(paths)
    await c.send(b"".join(request("GET", p) for p in paths))
    for p in paths:
        r = await read_response(c.reader)
        ctx.status(r.status)
        if r.status != 200:
            raise Violation(f"GET {p}: {r.brief()}")
        if p == "/metrics":
            m = parse_metrics(r.body.decode())
            if "brisk_open_connections" not in m:
                raise Violation("/metrics without brisk_open_connections")
        elif p == "/status.json":
            try:
                doc = json.loads(r.body)
            except ValueError as e:
                raise Violation(f"/status.json does not parse: {e}") from None
            if doc.get("ready") is not True:
                raise Violation(f"/status.json ready={doc.get('ready')!r}")


BEHAVIOURS = {
    # name: (function, weight)
    "echo_pipeline": (b_echo_pipeline, 6),
    "hello_head": (b_hello_head, 3),
    "slow_deadline": (b_slow_deadline, 4),
    "expect_continue": (b_expect_continue, 2),
    "malformed": (b_malformed, 4),
    "slowloris": (b_slowloris, 1),
    "stop_reading": (b_stop_reading, 1),
    "reset": (b_reset, 2),
    "half_close": (b_half_close, 2),
    "events": (b_events, 2),
    "scrape": (b_scrape, 1),
}


# --------------------------------------------------------------- the run


class Target:
    def __init__(self, host, port, ssl_context):
        self.host, self.port, self.ssl_context = host, port, ssl_context


class Run:
    """One server instance under the soak in one mode."""

    def __init__(self, args, mode, tmp):
        self.args = args
        self.mode = mode
        self.tmp = tmp
        self.slack_ms = args.slack_ms
        self.violations = []
        self.runs = collections.Counter()
        self.statuses = collections.defaultdict(collections.Counter)
        self.outcomes = collections.defaultdict(collections.Counter)
        self.worst_late = (float("-inf"), "")
        self.worst_adjusted = (float("-inf"), "")
        self.stalls = collections.deque(maxlen=100000)
        self.notes = collections.defaultdict(list)
        self.proc = None
        self.target = None
        self.hups = 0

    def fail(self, msg, behaviour="-", client="-", iteration="-"):
        line = (f"VIOLATION seed={self.args.seed} mode={self.mode} "
                f"behaviour={behaviour} client={client} "
                f"iteration={iteration}: {msg}")
        print(line, flush=True)
        self.violations.append(line)

    def note_lateness(self, late_ms, adjusted_ms, what):
        if late_ms > self.worst_late[0]:
            self.worst_late = (late_ms, what)
        if adjusted_ms > self.worst_adjusted[0]:
            self.worst_adjusted = (adjusted_ms, what)

    async def watch_client_stalls(self, end):
        """Records when this process itself stalled (a busy event loop, a
        descheduled process on the shared VM): time the client could not
        have read an answer that was already there."""
        tick = 0.005
        while time.monotonic() < end:
            t0 = time.monotonic()
            await asyncio.sleep(tick)
            t1 = time.monotonic()
            if t1 - t0 - tick > 0.010:
                self.stalls.append((t0 + tick, t1))

    def client_stalls_ms(self, start, end):
        """Milliseconds of the client's stalls within [start, end]."""
        total = 0.0
        for a, b in reversed(self.stalls):
            if b < start:
                break
            total += max(0.0, min(b, end) - max(a, start))
        return total * 1000

    def note(self, key, value):
        self.notes[key].append(value)

    # -------------------------------------------------------- the server

    def start_server(self):
        d = os.path.join(self.tmp, self.mode)
        os.makedirs(d)
        self.access_log = os.path.join(d, "access.log")
        self.stdout_path = os.path.join(d, "stdout")
        self.stderr_path = os.path.join(d, "stderr")
        flags = SERVER_FLAGS + [f"--access_log={self.access_log}"]
        ssl_context = None
        if self.mode == "io_uring":
            flags.append("--io=io_uring")
        if self.mode == "tls":
            cert, key = make_certificate(d)
            flags += [f"--tls_cert={cert}", f"--tls_key={key}",
                      "--tls_handshake_timeout=2s"]
            ssl_context = ssl.create_default_context(cafile=cert)
        with open(self.stdout_path, "wb") as out, \
                open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([self.args.server] + flags,
                                         stdout=out, stderr=err)
        deadline = time.monotonic() + 60
        pattern = re.compile(r"listening on https?://127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            with open(self.stdout_path) as f:
                m = pattern.search(f.read())
            if m:
                self.target = Target("127.0.0.1", int(m.group(1)), ssl_context)
                print(f"[{self.mode}] server pid {self.proc.pid} on port "
                      f"{self.target.port}: {' '.join(flags)}", flush=True)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill_server()
        raise RuntimeError(f"[{self.mode}] server did not start:\n"
                           + self.stderr_tail())

    def kill_server(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_tail(self, lines=60):
        with open(self.stderr_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    # --------------------------------------------------------- clients

    async def client(self, i, end):
        rng = random.Random(f"{self.args.seed}:{self.mode}:{i}")
        names = list(BEHAVIOURS)
        if self.target.ssl_context is not None:
            names.remove("half_close")  # asyncio's TLS cannot half-close
        weights = [BEHAVIOURS[n][1] for n in names]
        iteration = 0
        while time.monotonic() < end:
            name = rng.choices(names, weights)[0]
            iteration += 1
            self.runs[name] += 1
            ctx = Ctx(self, rng, name, i, iteration)
            try:
                await asyncio.wait_for(BEHAVIOURS[name][0](ctx),
                                       BEHAVIOUR_TIMEOUT_S)
            except Violation as v:
                self.fail(str(v), self.label(ctx), i, iteration)
            except asyncio.TimeoutError:
                self.fail(f"did not end within {BEHAVIOUR_TIMEOUT_S:g}s "
                          f"{ctx.progress}", self.label(ctx), i, iteration)
            except (Closed, Truncated) as e:
                self.fail(f"connection ended unexpectedly: "
                          f"{type(e).__name__} {e}", self.label(ctx), i,
                          iteration)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError) as e:
                self.fail(f"unexpected {type(e).__name__}: {e}",
                          self.label(ctx), i, iteration)
            finally:
                ctx.close_all()

    @staticmethod
    def label(ctx):
        if ctx.behaviour_detail:
            return f"{ctx.behaviour}/{ctx.behaviour_detail}"
        return ctx.behaviour

    async def get(self, path, timeout=IO_TIMEOUT_S):
        """One GET on a fresh connection with Connection: close."""
        c = await Conn.open(self.target)
        try:
            await c.send(request("GET", path, [("Connection", "close")]))
            return await asyncio.wait_for(read_response(c.reader), timeout)
        finally:
            c.close()

    async def liveness(self, end):
        """The server is alive and answers /hello during the whole run."""
        checks = 0
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.fail(f"the server exited with {self.proc.returncode} "
                          "during the run", "liveness")
                return
            try:
                r = await self.get("/hello")
                if r.status != 200 or r.body != HELLO_BODY:
                    self.fail(f"/hello got {r.brief()}", "liveness")
            except (Violation, Closed, Truncated, OSError) as e:
                self.fail(f"/hello failed: {type(e).__name__} {e}", "liveness")
            checks += 1
            await asyncio.sleep(0.5)
        self.note("liveness_checks", checks)

    async def sighups(self, start, end):
        """A few SIGHUPs, each after moving the access log away (rotation)."""
        n = 3
        for k in range(1, n + 1):
            at = start + (end - start) * k / (n + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            if self.proc.poll() is not None:
                return
            if os.path.exists(self.access_log):
                os.rename(self.access_log, f"{self.access_log}.{k}")
            self.proc.send_signal(signal.SIGHUP)
            self.hups += 1

    async def soak(self):
        start = time.monotonic()
        end = start + self.args.duration
        tasks = [asyncio.ensure_future(self.client(i, end))
                 for i in range(self.args.clients)]
        side = [asyncio.ensure_future(self.liveness(end)),
                asyncio.ensure_future(self.sighups(start, end))]
        watcher = asyncio.ensure_future(self.watch_client_stalls(
            end + BEHAVIOUR_TIMEOUT_S))
        await asyncio.gather(*tasks, *side)
        watcher.cancel()
        self.client_seconds = time.monotonic() - start

    # ----------------------------------------------------------- checks

    async def check_rest(self):
        """Open connections (the scrape's own) and in-flight return to rest."""
        deadline = time.monotonic() + 15
        last = None
        while time.monotonic() < deadline:
            try:
                r = await self.get("/metrics")
                m = parse_metrics(r.body.decode())
                last = {k: m.get(k) for k in ("brisk_open_connections",
                                              "brisk_in_flight_requests",
                                              "brisk_queue_depth")}
                # The scrape's own connection is open (its request is inline:
                # not counted in flight).
                if (last["brisk_open_connections"] <= 1
                        and last["brisk_in_flight_requests"] == 0
                        and last["brisk_queue_depth"] == 0):
                    self.rest = last
                    self.final_metrics = m
                    return
            except (Violation, Closed, Truncated, OSError) as e:
                last = f"{type(e).__name__} {e}"
            await asyncio.sleep(0.2)
        self.fail(f"not at rest 15 s after the clients stopped: {last}",
                  "end")

    async def check_end(self):
        if self.proc.poll() is not None:
            self.fail(f"the server exited with {self.proc.returncode}", "end")
            return
        self.final_metrics = {}
        await self.check_rest()
        r = await self.get("/hello")
        if r.status != 200 or r.body != HELLO_BODY:
            self.fail(f"/hello after the run got {r.brief()}", "end")
        # The access log was reopened after each rotation: the last file
        # gets the /hello just sent (polled: lines may be buffered).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(self.access_log) and os.path.getsize(self.access_log):
                break
            await asyncio.sleep(0.1)
        else:
            self.fail("no access log lines after the last SIGHUP (not "
                      "reopened?)", "sighup")
        for k in range(1, self.hups + 1):
            rotated = f"{self.access_log}.{k}"
            if not os.path.exists(rotated) or not os.path.getsize(rotated):
                self.fail(f"rotated access log {k} is missing or empty", "sighup")

    def check_shutdown(self):
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=DRAIN_TIMEOUT_S + 15)
            except subprocess.TimeoutExpired:
                self.kill_server()
                self.fail("SIGTERM: still running "
                          f"{DRAIN_TIMEOUT_S + 15:g}s later", "shutdown")
                rc = None
            self.exit_s = time.monotonic() - t0
            if rc is not None and rc != 0:
                self.fail(f"SIGTERM: exit status {rc}", "shutdown")
            if rc == 0 and self.exit_s > DRAIN_TIMEOUT_S + 2:
                self.fail(f"SIGTERM: exit after {self.exit_s:.1f}s, "
                          f"--drain_timeout={DRAIN_TIMEOUT_S:g}s", "shutdown")
        with open(self.stderr_path, errors="replace") as f:
            stderr = f.read()
        for marker in SANITIZER_MARKERS:
            if marker in stderr:
                at = stderr.index(marker)
                self.fail(f"server stderr has {marker!r}:\n"
                          f"{stderr[max(0, at - 200):at + 4000]}", "stderr")

    # ---------------------------------------------------------- summary

    def summary(self):
        print(f"\n[{self.mode}] summary (seed {self.args.seed}, "
              f"{self.args.clients} clients, "
              f"{getattr(self, 'client_seconds', 0):.1f} s)")
        for name in BEHAVIOURS:
            st = ", ".join(f"{k}:{v}" for k, v in sorted(
                self.statuses[name].items(), key=lambda kv: str(kv[0])))
            oc = ", ".join(f"{k}:{v}" for k, v in sorted(
                self.outcomes[name].items()))
            print(f"  {name:16} runs {self.runs[name]:5}  statuses [{st}]"
                  f"  outcomes [{oc}]")
        late, what = self.worst_late
        if late != float("-inf"):
            adjusted, what_adjusted = self.worst_adjusted
            stalls = sum(b - a for a, b in self.stalls)
            print(f"  worst 2xx lateness vs deadline, at the client: "
                  f"{late:+.1f} ms ({what}); less the client's own stalls: "
                  f"{adjusted:+.1f} ms ({what_adjusted}); slack "
                  f"{self.slack_ms} ms; client stalled {len(self.stalls)} "
                  f"times > 10 ms, {stalls:.1f} s in all")
        m = getattr(self, "final_metrics", {}) or {}
        keys = [k for k in sorted(m) if k.startswith((
            "brisk_timeouts_total", "brisk_bad_requests_total",
            "brisk_accepted_connections_total", "brisk_deadline_exceeded_total",
            "brisk_late_results_dropped_total", "brisk_shed_total",
            "brisk_tls_handshake_failures_total"))]
        for k in keys:
            if m[k]:
                print(f"  {k} {m[k]:g}")
        print(f"  SIGHUPs {self.hups}; liveness checks "
              f"{sum(self.notes['liveness_checks'])}; at rest "
              f"{getattr(self, 'rest', None)}; SIGTERM exit "
              f"{getattr(self, 'exit_s', float('nan')):.2f}s")
        print(f"  violations: {len(self.violations)}", flush=True)


def make_certificate(directory):
    """A throwaway ECDSA P-256 certificate for localhost (never committed)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)
    return cert, key


def run_mode(args, mode, tmp):
    run = Run(args, mode, tmp)
    run.start_server()
    try:
        asyncio.run(run.soak())
        asyncio.run(run.check_end())
        run.check_shutdown()
    finally:
        run.kill_server()
    run.summary()
    if run.violations:
        print(f"[{mode}] server stderr (tail):\n{run.stderr_tail()}")
    return run.violations


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("server", help="the brisk server binary")
    p.add_argument("--duration", type=float, default=40,
                   help="seconds of client load per mode")
    p.add_argument("--clients", type=int, default=16,
                   help="concurrent client tasks")
    p.add_argument("--modes", default="epoll,io_uring,tls",
                   help="comma-separated: epoll, io_uring, tls (one server "
                        "instance each, in turn)")
    p.add_argument("--seed", type=int, default=None,
                   help="RNG seed (default: random, printed)")
    p.add_argument("--slack_ms", type=int, default=200,
                   help="lateness allowed to a /slow 2xx past its deadline, "
                        "measured at the client")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory (logs, stderr)")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ("epoll", "io_uring", "tls"):
            p.error(f"unknown mode {m!r}")
    if "tls" in modes and shutil.which("openssl") is None:
        print("openssl not installed: the tls mode is skipped")
        modes.remove("tls")
    print(f"soak: seed {args.seed}, modes {modes}, {args.duration:g} s each, "
          f"{args.clients} clients", flush=True)
    tmp = tempfile.mkdtemp(prefix="soak.", dir=os.environ.get("TEST_TMPDIR"))
    violations = []
    try:
        for mode in modes:
            violations += run_mode(args, mode, tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nsoak: seed {args.seed}: {len(violations)} violation(s)")
    for v in violations[:50]:
        print(v.splitlines()[0])
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
