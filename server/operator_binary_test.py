#!/usr/bin/env python3
"""What an operator relies on in the server binary, checked from outside.

For --io=epoll and --io=io_uring in turn, on 127.0.0.1, port 0:

  * /metrics is Prometheus text exposition format 0.0.4, read by a strict
    parser: every sample's family has a # TYPE before it, families are
    contiguous, label values use only the three escapes, no series twice;
    histogram buckets ascend in le, are cumulative and end in le="+Inf",
    which equals _count. Scraped over and over while clients run a few
    hundred mixed requests: no counter or histogram series ever decreases
    or disappears between two scrapes.
  * The access log has one line per answer, each in the documented format
    (Common Log Format + duration in microseconds + trace id), none mixed
    with another under concurrent clients; client-chosen bytes cannot forge
    a line (a quote in the target is escaped; control bytes and newlines
    are refused with a 400 and logged as "- -").
  * SIGTERM: /readyz answers 503 at once while /healthz stays 200 and the
    server keeps serving (the grace), then the process exits 0.

  tools/bazel test //server:operator_binary_test
  server/operator_binary_test.py bazel-bin/server/server

Python 3 standard library only; every wait is bounded; it stops what it
started, by pid.
"""

import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SERVER = None  # the binary, from argv
README = None  # the root README.md, whose flag table --help must cover

# ---------------------------------------------------------------- exposition


class ExpositionError(ValueError):
    pass


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _value(text, where):
    if text in ("+Inf", "-Inf", "NaN"):
        return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[text]
    if not _FLOAT.fullmatch(text):
        raise ExpositionError(f"{where}: bad value {text!r}")
    return float(text)


def _labels(line, i, where):
    """Parses {name="value",...} at line[i] == '{'; returns (labels, end)."""
    labels = {}
    i += 1
    while line[i] != "}":
        m = _LABEL.match(line, i)
        if not m or line[m.end():m.end() + 2] != '="':
            raise ExpositionError(f"{where}: bad label at column {i}")
        name, i, value = m.group(0), m.end() + 2, []
        while line[i] != '"':
            if line[i] == "\\":
                escaped = {"\\": "\\", '"': '"', "n": "\n"}.get(line[i + 1])
                if escaped is None:
                    raise ExpositionError(f"{where}: bad escape \\{line[i + 1]}")
                value.append(escaped)
                i += 2
            else:
                value.append(line[i])
                i += 1
        i += 1
        if name in labels:
            raise ExpositionError(f"{where}: label {name} twice")
        labels[name] = "".join(value)
        if line[i] == ",":
            i += 1
        elif line[i] != "}":
            raise ExpositionError(f"{where}: expected , or }} at column {i}")
    return labels, i + 1


def parse_exposition(text):
    """Strictly parses text format 0.0.4. Returns ({(name, labels): value},
    {family: type}); raises ExpositionError on the first violation."""
    if not text.endswith("\n"):
        raise ExpositionError("no newline at the end")
    types, helps, samples, families = {}, set(), {}, []
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("TYPE", "HELP"):
                name = parts[2]
                if not _NAME.fullmatch(name):
                    raise ExpositionError(f"{where}: bad metric name {name!r}")
                if parts[1] == "HELP":
                    if name in helps:
                        raise ExpositionError(f"{where}: second HELP for {name}")
                    helps.add(name)
                    continue
                if name in types or name in families:
                    raise ExpositionError(f"{where}: TYPE of {name} again or after its samples")
                if len(parts) != 4 or parts[3] not in _TYPES:
                    raise ExpositionError(f"{where}: bad TYPE line")
                types[name] = parts[3]
            continue
        m = _NAME.match(line)
        if not m:
            raise ExpositionError(f"{where}: not a sample: {line!r}")
        name, i, labels = m.group(0), m.end(), {}
        if i < len(line) and line[i] == "{":
            labels, i = _labels(line, i, where)
        rest = line[i:].split(" ")
        if rest[0] != "" or len(rest) not in (2, 3):
            raise ExpositionError(f"{where}: expected ' value [timestamp]'")
        value = _value(rest[1], where)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
                family = base
        if family not in types:
            raise ExpositionError(f"{where}: {name} has no # TYPE before it")
        if families and families[-1] != family:
            if family in families:
                raise ExpositionError(f"{where}: samples of {family} not together")
        if not families or families[-1] != family:
            families.append(family)
        kind = types[family]
        if kind == "histogram" and name == family:
            raise ExpositionError(f"{where}: histogram sample without a suffix")
        if kind == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise ExpositionError(f"{where}: bucket without le")
        if kind == "counter" and not value >= 0:
            raise ExpositionError(f"{where}: counter {value}")
        key = (name, tuple(sorted(labels.items())))
        if key in samples:
            raise ExpositionError(f"{where}: series {key} twice")
        samples[key] = value
    for family, kind in types.items():
        if kind != "histogram":
            continue
        buckets, counts, sums = {}, {}, set()
        for (name, labels), value in samples.items():
            if name == family + "_bucket":
                rest = tuple(kv for kv in labels if kv[0] != "le")
                le = _value(dict(labels)["le"], family)
                buckets.setdefault(rest, []).append((le, value))
            elif name == family + "_count":
                counts[labels] = value
            elif name == family + "_sum":
                sums.add(labels)
        for series, rows in buckets.items():
            where = f"{family}{dict(series)}"
            les = [le for le, _ in rows]
            if les != sorted(les) or len(set(les)) != len(les):
                raise ExpositionError(f"{where}: buckets not in ascending le")
            if les[-1] != math.inf:
                raise ExpositionError(f"{where}: no le=\"+Inf\" bucket last")
            if any(b < a for (_, a), (_, b) in zip(rows, rows[1:])):
                raise ExpositionError(f"{where}: buckets not cumulative")
            if series not in counts or series not in sums:
                raise ExpositionError(f"{where}: no _count or _sum")
            if counts[series] != rows[-1][1]:
                raise ExpositionError(
                    f"{where}: +Inf bucket {rows[-1][1]} != _count {counts[series]}")
        if set(counts) != set(buckets):
            raise ExpositionError(f"{family}: a _count without buckets")
    return samples, types


def monotonic_series(samples, types):
    """The series that may never decrease: counters and histogram parts."""
    out = {}
    for (name, labels), value in samples.items():
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in types:
                family = name[:-len(suffix)]
        if types.get(family) in ("counter", "histogram"):
            out[(name, labels)] = value
    return out


class ParserSelfTest(unittest.TestCase):
    """The parser refuses what the format forbids (so its silence counts)."""

    GOOD = ("# HELP a_total A.\n# TYPE a_total counter\na_total{r=\"x\\\"y\\\\\\n\"} 3\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 0.5\nh_count 2\n")

    def test_good(self):
        samples, _ = parse_exposition(self.GOOD)
        self.assertEqual(samples[("a_total", (("r", 'x"y\\\n'),))], 3)

    def test_violations(self):
        bad = {
            "no type": "a 1\n",
            "duplicate": "# TYPE a gauge\na 1\na 1\n",
            "bad escape": "# TYPE a gauge\na{r=\"\\t\"} 1\n",
            "raw quote": "# TYPE a gauge\na{r=\"x\"y\"} 1\n",
            "not cumulative": "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                              "h_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
            "no +Inf": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
            "+Inf != count": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 2\n",
            "split family": "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 1\n",
            "no newline": "# TYPE a gauge\na 1",
        }
        for what, text in bad.items():
            with self.subTest(what):
                with self.assertRaises(ExpositionError):
                    parse_exposition(text)


# ---------------------------------------------------------------- the binary

# 127.0.0.1 - USER [02/Dec/2026:08:30:22 +0000] "GET /x HTTP/1.1" 200 14 37 TRACE
_LOG_LINE = re.compile(
    r'127\.0\.0\.1 - (-|\S+) \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
    r'"(?:([A-Z]+) ((?:[!#-\[\]-~]|\\x[0-9A-F]{2})+) HTTP/1\.[01]'
    # refused before its head: what came as the request line, escaped
    r'|(?:[ !#-\[\]-~]|\\x[0-9A-F]{2})+|-)" '
    r'(\d{3}) (\d+) (\d+) (-|[0-9a-f]{32})')


class Server:
    def __init__(self, *flags):
        self.dir = tempfile.TemporaryDirectory(prefix="brisk-operator-")
        self.log = os.path.join(self.dir.name, "access.log")
        self.stderr = open(os.path.join(self.dir.name, "stderr.txt"), "w+")
        self.proc = subprocess.Popen(
            [SERVER, "--address=127.0.0.1", "--port=0", f"--access_log={self.log}",
             *flags], stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.proc.stdout.readline().decode()
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)
        if not m:
            self.stop()
            raise AssertionError(f"no listening line: {line!r}")
        self.port = int(m.group(1))

    def exchange(self, raw, timeout=10):
        """Sends raw bytes, reads until the server closes; returns the bytes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(raw)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    def get(self, path, timeout=10):
        data = self.exchange(
            f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode(), timeout)
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.stderr.close()
        self.dir.cleanup()


# Each client's requests: one connection each, pipelined, the last closing.
_REQUESTS = [
    b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /cpu?us=50 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
    b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n",
    b"DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b'GET /q"uote\\d HTTP/1.1\r\nHost: t\r\n\r\n',
    b"GET /hello HTTP/1.1\r\nHost: t\r\ntraceparent: "
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
]
_LAST = b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
# Each answered 400 and logged as "- -", or forging nothing.
_HOSTILE = [
    b"GET /x\n127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] \"GET /forged HTTP/1.1\" 200 1 1 - HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /x\r\n127.0.0.1 forged HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /\x1b[2Jx HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /\x00x HTTP/1.1\r\nHost: t\r\n\r\n",
    b"G\"ET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: t\r\nUser-Agent: a\nb\" 200 0\r\n\r\n",
]


class BinaryTest(unittest.TestCase):
    IO = None  # set by the subclasses

    def setUp(self):
        self.server = Server(f"--io={self.IO}", "--workers=2", "--drain_grace=300ms",
                             "--drain_timeout=10s")
        self.addCleanup(self.server.stop)

    def scrape(self):
        status, body = self.server.get("/metrics")
        self.assertEqual(status, 200)
        return parse_exposition(body.decode())

    def test_metrics_log_and_drain(self):
        server = self.server
        samples, types = self.scrape()  # at rest, before anything
        previous = monotonic_series(samples, types)

        # A few hundred requests from concurrent clients, scraped meanwhile.
        clients, rounds = 6, 6
        answers, errors = [], []
        lock = threading.Lock()

        def client(k):
            try:
                for r in range(rounds):
                    reqs = [_REQUESTS[(k + r + i) % len(_REQUESTS)] for i in range(len(_REQUESTS))]
                    data = server.exchange(b"".join(reqs) + _LAST)
                    with lock:  # no body here holds "HTTP/1.1 "
                        answers.append(data.count(b"HTTP/1.1 "))
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        scrapes = 0
        while any(t.is_alive() for t in threads) or scrapes < 3:
            samples, types = self.scrape()
            current = monotonic_series(samples, types)
            for key, value in previous.items():
                self.assertIn(key, current, f"series {key} disappeared")
                self.assertGreaterEqual(current[key], value, f"{key} decreased")
            previous = current
            scrapes += 1
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(answers, [len(_REQUESTS) + 1] * (clients * rounds))
        requests_sent = clients * rounds * (len(_REQUESTS) + 1)

        for raw in _HOSTILE:
            data = server.exchange(raw)
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), (raw, data[:60]))

        # Every answer counted once, by route and status: the requests, the
        # hostile ones and the scrapes before this one (a page is made
        # before its own request is counted).
        samples, types = self.scrape()
        counted = sum(v for (name, _), v in samples.items() if name == "brisk_requests_total")
        self.assertEqual(counted, 1 + requests_sent + len(_HOSTILE) + scrapes)
        after = 1  # this scrape

        # SIGTERM: readiness fails at once, liveness holds, still serving.
        server.proc.send_signal(signal.SIGTERM)
        for _ in range(1000):
            status, _ = server.get("/readyz")
            after += 1
            if status == 503:
                break
            time.sleep(0.005)  # until the signal was read (bounded)
        self.assertEqual(status, 503)
        after += 2  # the two below
        self.assertEqual(server.get("/healthz")[0], 200)
        self.assertEqual(server.get("/hello"), (200, b"Hello, World!\n"))
        self.assertEqual(server.wait(), 0)

        # The access log, flushed by the drain: one well-formed line each.
        with open(server.log, "rb") as f:
            text = f.read().decode("ascii")  # any other byte would be a leak
        self.assertTrue(text.endswith("\n"))
        lines = text[:-1].split("\n")
        bad = [line for line in lines if not _LOG_LINE.fullmatch(line)]
        self.assertEqual(bad[:5], [])
        self.assertNotIn("/forged", text)
        # Each refused with its line as it came (up to its CR or LF), so a
        # forged line cannot follow it.
        self.assertEqual(sum(1 for line in lines
                             if re.search(r'\] "GET /[^"]*" 400 ', line) or
                             '"G\\x22ET / HTTP/1.1" 400 ' in line),
                         len(_HOSTILE))
        self.assertEqual(sum(1 for line in lines if 'GET /q\\x22uote\\x5Cd HTTP/1.1" 404 ' in line),
                         clients * rounds)
        self.assertEqual(
            sum(1 for line in lines if line.endswith(" 4bf92f3577b34da6a3ce929d0e0e4736")),
            clients * rounds)
        # One line per answer, no more, no fewer.
        self.assertEqual(len(lines), counted + after)

    def test_usr1_reopens_the_log_as_nginx_does(self):
        # logrotate configurations written for nginx send SIGUSR1 to reopen
        # the logs; its default action ended the process (exit 138).
        server = self.server
        self.assertEqual(server.get("/hello")[0], 200)
        moved = server.log + ".1"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.getsize(server.log):
            time.sleep(0.05)  # the writer's batch: about every 100 ms
        os.rename(server.log, moved)
        server.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not os.path.exists(server.log):
            self.assertEqual(server.get("/hello?after")[0], 200)
            time.sleep(0.05)
        self.assertTrue(os.path.exists(server.log), "no new file after SIGUSR1")
        self.assertEqual(server.get("/hello?after")[0], 200)  # to the new file
        self.assertIsNone(server.proc.poll())
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.wait(), 0)
        with open(moved) as f:
            old = f.read()
        with open(server.log) as f:
            new = f.read()
        self.assertIn('"GET /hello HTTP/1.1" 200', old)
        self.assertIn('"GET /hello?after HTTP/1.1" 200', new)


class HelpTest(unittest.TestCase):
    def test_help_lists_every_server_flag(self):
        # abseil's --help once said "No flags matched" (it looks for flags in
        # a file named like the program); README.md's flag table is the list.
        r = subprocess.run([SERVER, "--help"], capture_output=True, text=True, timeout=60)
        self.assertNotIn("No flags matched", r.stdout)
        with open(README) as f:
            documented = set(re.findall(r"^\| `(--[a-z_]+)` \|", f.read(), re.M))
        self.assertGreater(len(documented), 30)
        for flag in documented:
            self.assertIn("    " + flag + " (", r.stdout)

    def test_help_comes_before_a_bad_value(self):
        # Asked for help with a value the decimal check refuses, the help
        # was not given: only the error.
        r = subprocess.run([SERVER, "--port=0x50", "--help"], capture_output=True, text=True,
                           timeout=60)
        self.assertIn("    --port (", r.stdout)

    def test_version_describes_this_build(self):
        # abseil's own answer described the system's abseil ("Debug build
        # (NDEBUG not #defined)" on an optimized brisk).
        r = subprocess.run([SERVER, "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^built on brisk, (optimized|debug) build")


class EpollTest(BinaryTest):
    IO = "epoll"


class IoUringTest(BinaryTest):
    IO = "io_uring"


del BinaryTest  # only its subclasses run

if __name__ == "__main__":
    SERVER = os.path.abspath(sys.argv.pop(1))
    README = os.path.abspath(sys.argv.pop(1))
    unittest.main()
