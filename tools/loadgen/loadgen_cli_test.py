#!/usr/bin/env python3
"""End-to-end tests of the loadgen binary's flags and output files.

A small threaded HTTP/1.1 server (standard library) answers /ok with 200 and
/refuse with 503 and records what it received; loadgen runs against it on
127.0.0.1 with a port picked by the kernel. Counts only, no timing
thresholds; every run lasts well under a second.
"""

import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import unittest

LOADGEN = "tools/loadgen/loadgen"


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # (method, path, content-type, budget header, body)


def make_server(recorder):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with recorder.lock:
                recorder.requests.append((self.command, self.path,
                                          self.headers.get("Content-Type"),
                                          self.headers.get("X-Request-Budget-Ms"), body))
            self.send_response(503 if self.path.startswith("/refuse") else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = answer
        do_POST = answer

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the listen backlog: every pool connects at once

    return Server(("127.0.0.1", 0), Handler)


class LoadgenCliTest(unittest.TestCase):

    def setUp(self):
        self.recorder = Recorder()
        self.server = make_server(self.recorder)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.port = self.server.server_address[1]
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, content):
        with open(self.path(name), "wb") as f:
            f.write(content)
        return self.path(name)

    def loadgen(self, *args):
        return subprocess.run(
            [LOADGEN, "--port=%d" % self.port, "--duration=500ms", "--connections=4"]
            + list(args), capture_output=True, text=True, timeout=60)

    def test_mix_from_a_file_and_flags_with_per_class_outputs(self):
        tx = b'{"features": [0.5, 1.5, 2.5]}'
        self.write("tx.json", tx)
        mix = self.write("mix.txt", (
            "# mixed-SLA scenario\n"
            "score rate=40 method=POST target=/ok body_file=%s "
            "header=\"Content-Type: application/json\" sla=1s\n"
            "\n"
            "refused rate=60 target=/refuse header=\"X-Request-Budget-Ms: 20\" "
            "connections=2\n" % self.path("tx.json")).encode())
        r = self.loadgen("--mix_file=" + mix, "--request=plain rate=20 target=/ok?x=1",
                         "--json", "--latency_out=" + self.path("lat.csv"),
                         "--plot_out=" + self.path("plot.svg"), "--plot_title=mix <test>")
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual([c["name"] for c in report["classes"]], ["score", "refused", "plain"])
        score, refused, plain = report["classes"]
        # Exactly rate x duration each, at the class's own rate.
        self.assertEqual((score["scheduled"], refused["scheduled"], plain["scheduled"]),
                         (20, 30, 10))
        self.assertEqual(report["scheduled"], 60)
        self.assertEqual(report["rate"], 120)
        self.assertEqual(report["connections"], 4 + 2 + 4)
        self.assertEqual((refused["connections"], score["connections"]), (2, 4))
        self.assertEqual(score["status"], {"200": 20})
        self.assertEqual(refused["status"], {"503": 30})
        self.assertEqual(plain["status"], {"200": 10})
        self.assertEqual(report["status"], {"200": 30, "503": 30})
        # Refusals are timed apart from the 2xx answers.
        self.assertEqual(refused["latency_non2xx_us"]["samples"], 30)
        self.assertEqual(refused["latency_ok_us"]["samples"], 0)
        self.assertEqual(score["latency_non2xx_us"]["samples"], 0)
        # Goodput within each class's own SLA; none for a class without one.
        self.assertEqual(score["sla_us"], 1000000)
        self.assertIn("ok_within_sla", score)
        self.assertNotIn("sla_us", refused)
        self.assertNotIn("sla_us", report)
        self.assertEqual(score["target"], "POST http://127.0.0.1:%d/ok" % self.port)

        with self.recorder.lock:
            seen = list(self.recorder.requests)
        posts = [s for s in seen if s[0] == "POST"]
        self.assertEqual(len(posts), 20)
        self.assertTrue(all(s[1:] == ("/ok", "application/json", None, tx) for s in posts))
        refusals = [s for s in seen if s[1] == "/refuse"]
        self.assertEqual(len(refusals), 30)
        self.assertTrue(all(s[3] == "20" and s[2] is None for s in refusals))
        self.assertEqual(len([s for s in seen if s[1] == "/ok?x=1"]), 10)

        # One CSV per class, the name before the extension.
        self.assertFalse(os.path.exists(self.path("lat.csv")))
        for name in ("score", "refused", "plain"):
            with open(self.path("lat.%s.csv" % name)) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "percentile,latency_us")
            self.assertEqual(len(lines), 1 + 137)
            self.assertEqual(lines[-1].split(",")[0], "100")
        with open(self.path("plot.svg"), encoding="utf-8") as f:
            svg = f.read()
        self.assertEqual(svg.count("<polyline "), 3)
        for name in ("score", "refused", "plain"):
            self.assertIn('<polyline data-label="%s"' % name, svg)
        self.assertIn("<title>mix &lt;test&gt;</title>", svg)

    def test_single_request_flags_with_body_file(self):
        self.write("tx.json", b'{"a": 1}')
        r = self.loadgen("--rate=40", "--method=POST", "--path=/ok",
                         "--body_file=" + self.path("tx.json"),
                         "--header=Content-Type: application/json", "--json",
                         "--latency_out=" + self.path("one.csv"),
                         "--latency_answers=2xx", "--plot_out=" + self.path("one.svg"))
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        self.assertNotIn("classes", report)
        self.assertEqual(report["scheduled"], 20)
        self.assertEqual(report["status"], {"200": 20})
        self.assertTrue(os.path.exists(self.path("one.csv")))
        with open(self.path("one.svg"), encoding="utf-8") as f:
            svg = f.read()
        self.assertIn('<polyline data-label="POST /ok"', svg)
        self.assertIn("(2xx answers)</title>", svg)
        with self.recorder.lock:
            self.assertTrue(all(s[2:] == ("application/json", None, b'{"a": 1}')
                                for s in self.recorder.requests))
            self.assertEqual(len(self.recorder.requests), 20)

    def test_plot_goes_next_to_the_csv_by_default(self):
        r = self.loadgen("--rate=20", "--path=/ok",
                         "--latency_out=" + self.path("auto.csv"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(self.path("auto.csv")))
        with open(self.path("auto.svg"), encoding="utf-8") as f:
            self.assertIn("<svg", f.read())
        r = self.loadgen("--rate=20", "--path=/ok", "--plot_out=none",
                         "--latency_out=" + self.path("noplot.csv"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.path("noplot.svg")))

    def test_a_run_that_does_not_complete_leaves_earlier_outputs_alone(self):
        # The outputs were truncated before the probe: a run against a
        # server that is not there (exit 3) emptied the last run's files.
        csv = self.write("keep.csv", b"earlier run\n")
        svg = self.write("keep.svg", b"<svg/>\n")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]  # nothing listens on it
        r = subprocess.run(
            [LOADGEN, "--port=%d" % closed_port, "--duration=200ms", "--rate=10",
             "--timeout=2s", "--latency_out=" + csv], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 3, r.stderr)
        with open(csv, "rb") as f:
            self.assertEqual(f.read(), b"earlier run\n")
        with open(svg, "rb") as f:
            self.assertEqual(f.read(), b"<svg/>\n")
        # Files it created for the check are removed again.
        fresh = self.path("fresh.csv")
        r = subprocess.run(
            [LOADGEN, "--port=%d" % closed_port, "--duration=200ms", "--rate=10",
             "--timeout=2s", "--latency_out=" + fresh], capture_output=True, text=True,
            timeout=60)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertFalse(os.path.exists(fresh))
        self.assertFalse(os.path.exists(self.path("fresh.svg")))
        # A completed run replaces them.
        r = self.loadgen("--rate=20", "--path=/ok", "--latency_out=" + csv)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(csv, "rb") as f:
            self.assertNotEqual(f.read(), b"earlier run\n")
        with open(svg, encoding="utf-8") as f:
            self.assertIn("<svg", f.read())

    def test_help_lists_the_flags(self):
        # abseil's --help once said "No flags matched": it looks for flags
        # in a file named like the program.
        r = subprocess.run([LOADGEN, "--help"], capture_output=True, text=True, timeout=60)
        self.assertNotIn("No flags matched", r.stdout)
        for flag in ("--rate", "--request", "--mix_file", "--latency_out"):
            self.assertIn("    " + flag + " (", r.stdout)

    def test_rejected_flags_exit_2(self):
        self.write("b.txt", b"x")
        cases = [
            (["--rate=5", "--request=a rate=1"], "--rate is for a single request"),
            (["--request=a rate=1", "--request=a rate=2"], "two classes are named a"),
            (["--request=a target=/x"], "rate=N is required"),
            (["--request=a rate=1 color=red"], "unknown key 'color'"),
            (["--mix_file=" + self.path("none.txt")], "cannot read"),
            (["--mix_file=" + self.write("empty.txt", b"# nothing\n")], "no request classes"),
            (["--rate=1", "--body=x", "--body_file=" + self.path("b.txt")],
             "--body and --body_file"),
            (["--rate=1", "--latency_answers=some"], "--latency_answers"),
            (["--rate=1", "--latency_out=" + self.path("no/such/dir.csv")], "cannot write"),
            (["--request=a rate=1 method=G\x01T"], "class a: bad method"),
            ([], "--rate is required"),
            (["--rate=1", "stray"], "unexpected argument 'stray'"),
            (["--rate=1", "--plot_out=" + self.path("plot.png")], "name it *.svg"),
            (["--rate=1", "--plot_out=" + self.path("plot")], "name it *.svg"),
            # A negative SLA was ignored (no goodput, exit 0); one past the
            # recorders' 32-bit microseconds was reported as 4294967295 us.
            (["--rate=1", "--sla=-1ms"], "--sla must be"),
            (["--rate=1", "--sla=2h"], "--sla must be"),
            (["--rate=1", "--sla=inf"], "--sla must be"),
            (["--request=a rate=1 sla=2h"], "bad value for sla"),
            # Timers count milliseconds: 1us was kept before sending only.
            (["--rate=1", "--timeout=1us"], "timeout must be at least 1ms"),
            # The default plot of r.svg is r.svg: it overwrote the CSV; so
            # did a class named svg's CSV lat.svg and the plot lat.svg.
            (["--rate=1", "--latency_out=" + self.path("r.svg")], "would be written twice"),
            (["--rate=1", "--latency_out=" + self.path("v.svg"),
              "--plot_out=" + os.path.join(self.tmp, ".", "v.svg")], "would be written twice"),
            (["--request=svg rate=1", "--request=b rate=1",
              "--latency_out=" + self.path("lat")], "would be written twice"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                r = self.loadgen(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
        with self.recorder.lock:
            self.assertEqual(self.recorder.requests, [])  # nothing was run


if __name__ == "__main__":
    unittest.main()
