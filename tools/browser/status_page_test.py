#!/usr/bin/env python3
"""The live status page (/status) in headless Debian Chromium.

Starts the demo server (//server:server) on 127.0.0.1, port 0, opens /status
in headless Chromium (driven over the DevTools protocol, tools/browser/cdp.py)
and checks, from what the page shows (the DOM, not its script's variables):

  1. it loads and renders live numbers: several updates, open connections,
     a request rate (its own polling of /status.json), readiness "ready";
  2. they move when load is applied: tools/loadgen sends /hello (inline) and
     /slow?ms=5 (offloaded) for a few seconds; rows for both routes appear
     with a rate near the offered one, p50/p99 in the right range (the
     offloaded route's p50 at least its 5 ms sleep), answered counts that
     grow between two looks, more open connections;
  3. they move back when it stops: the /hello rate returns to 0;
  4. nothing else happened: no script exception, no console error (a CSP
     violation would be one), and every request the page made went to the
     server's own origin (no CDN, nothing external).

Skips (exit 0, saying so) when chromium is not installed: .ci/run installs
it. Loopback only; every wait is bounded; it stops what it started.

  tools/bazel test //tools/browser:status_page_test
  tools/browser/status_page_test.py SERVER LOADGEN     # outside Bazel
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

SERVER = LOADGEN = None


def start_server(binary, extra=()):
    proc = subprocess.Popen([binary, "--address=127.0.0.1", "--port=0",
                             "--workers=2", "--drain_grace=0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()  # the server prints it once ready
    m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(m.group(1))


# What the page shows: the cards, and each route row's cells, read from the
# DOM (data-value holds the number a cell displays).
READ_PAGE = r"""(() => {
  if (!document.getElementById("ready")) return null;  // not loaded yet
  const num = el => (el && el.dataset.value !== undefined ? +el.dataset.value : null);
  const card = f => document.querySelector(`.cards [data-field="${f}"]`);
  const routes = {};
  for (const tr of document.querySelectorAll("#routes tbody tr")) {
    const row = {};
    for (const td of tr.querySelectorAll("td[data-field]")) {
      row[td.dataset.field] = num(td);
      row[td.dataset.field + "_text"] = td.textContent;
    }
    routes[tr.dataset.route] = row;
  }
  return {
    updates: +document.body.dataset.updates,
    ready: document.getElementById("ready").textContent,
    proc: document.getElementById("proc").textContent,
    rate: num(card("rate")), rate_text: card("rate").textContent,
    open_connections: num(card("open_connections")),
    queue_depth: num(card("queue_depth")),
    loop_lag_p99: card("loop_lag_p99").textContent,
    receive_lag_p99: card("receive_lag_p99").textContent,
    receive_lag_p99_value: num(card("receive_lag_p99")),
    routes,
  };
})()"""


class StatusPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not cdp.find_chromium():
            raise unittest.SkipTest("chromium is not installed "
                                    "(apt-get install chromium); skipped")
        cls.server, cls.port = start_server(SERVER)
        cls.browser = cdp.Browser(timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.server.terminate()
        cls.server.wait(timeout=15)

    def read(self, page):
        return page.evaluate(READ_PAGE)

    def wait_until(self, page, what, predicate, timeout=30):
        """Polls the page until predicate(state) holds; fails after timeout."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.read(page)
            if state is not None and predicate(state):
                return state
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}; the page shows {state}")

    def test_page_shows_live_numbers_that_follow_the_load(self):
        origin = f"http://127.0.0.1:{self.port}"
        page = self.browser.new_page(1280, 1000)
        page.navigate(origin + "/status")

        # 1. Idle: live numbers, the page's own polling as the only traffic.
        idle = self.wait_until(page, "two updates with a rate",
                               lambda s: s["updates"] >= 2 and s["rate"] is not None)
        self.assertEqual(idle["ready"], "ready")
        self.assertRegex(idle["proc"], r"^pid \d+ · up \d+[smhd]( \d+[smhd])?$")
        self.assertGreaterEqual(idle["open_connections"], 1)
        self.assertLess(idle["rate"], 20)  # about 1/s: /status.json itself
        self.assertNotIn("/hello", idle["routes"])
        self.assertIn("/status.json", idle["routes"])

        # 2. Load: /hello inline and /slow?ms=5 offloaded, open loop.
        load = subprocess.Popen(
            [LOADGEN, "--host=127.0.0.1", f"--port={self.port}", "--duration=8s",
             "--request=hello rate=400 target=/hello connections=4",
             "--request=slow rate=50 target=/slow?ms=5 connections=8"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def loaded(s):
                hello, slow = s["routes"].get("/hello"), s["routes"].get("/slow")
                return (hello and slow and hello["rate"] and slow["rate"] and
                        hello["rate"] > 200 and slow["rate"] > 20 and
                        slow["p50"] is not None and hello["p99"] is not None)
            busy = self.wait_until(page, "rows for /hello and /slow with rates", loaded)
            hello, slow = busy["routes"]["/hello"], busy["routes"]["/slow"]
            self.assertLess(hello["rate"], 1000)
            self.assertLess(slow["rate"], 200)
            self.assertGreater(busy["rate"], 220)
            self.assertGreaterEqual(slow["p50"], 5000)  # it sleeps 5 ms
            self.assertLess(hello["p50"], slow["p50"])
            self.assertGreaterEqual(hello["p99"], hello["p50"])
            self.assertRegex(hello["p99_text"], r"^≤ [\d.]+ (µs|ms)$")
            self.assertLess(hello["mean"], slow["mean"])
            self.assertGreaterEqual(slow["mean"], 5000)
            self.assertEqual(hello["rate_5xx"], 0)
            # Receive lag over the interval: requests were read, so a bound.
            self.assertRegex(busy["receive_lag_p99"], r"^≤ [\d.]+ (µs|ms|s)$")
            self.assertGreater(busy["receive_lag_p99_value"], 0)
            self.assertGreater(busy["open_connections"], idle["open_connections"])
            # The numbers keep moving while the load runs.
            later = self.wait_until(
                page, "the answered count to grow",
                lambda s: s["routes"]["/hello"]["answered"] > hello["answered"] + 200)
            self.assertGreater(later["updates"], busy["updates"])
        finally:
            load.wait(timeout=60)

        # 3. Load over: the rate falls back, nothing is left in flight.
        over = self.wait_until(page, "the /hello rate to fall to 0",
                               lambda s: s["routes"]["/hello"]["rate"] == 0)
        self.assertEqual(over["routes"]["/slow"]["in_flight"], 0)
        self.assertEqual(over["routes"]["/slow"]["queued"], 0)
        self.assertEqual(over["routes"]["/hello"]["in_flight"], 0)  # inline

        # 4. Nothing external, nothing broken.
        self.assertEqual(page.exceptions, [])
        self.assertEqual(page.console_errors, [])
        self.assertTrue(page.requests)
        for url in page.requests:
            self.assertTrue(url.startswith(origin + "/"), url)

    def test_json_endpoint_serves_metrics(self):
        page = self.browser.new_page(800, 600)
        page.navigate(f"http://127.0.0.1:{self.port}/status.json")
        snap = page.evaluate("JSON.parse(document.body.innerText)")
        self.assertIn("time_ns", snap)
        self.assertGreaterEqual(snap["uptime_seconds"], 0)
        self.assertLess(snap["uptime_seconds"], 600)
        started = snap["metrics"]["start_time_seconds"]
        self.assertLessEqual(started, time.time() + 1)
        self.assertGreater(started, time.time() - 600)  # this test class's server
        self.assertEqual(snap["metrics"]["access_log_lost_lines"], 0)
        self.assertIs(snap["ready"], True)
        names = [r["name"] for r in snap["metrics"]["routes"]]
        self.assertIn("/hello", names)
        self.assertEqual(names[-1], "unmatched")


# The TLS rows of the connections table, by field: {field: text}.
READ_TLS_ROWS = r"""(() => {
  const rows = {};
  for (const td of document.querySelectorAll("#conns td[data-field^='tls_']")) {
    rows[td.dataset.field] = td.textContent;
  }
  return rows;
})()"""


class TlsStatusPageTest(unittest.TestCase):
    """Over HTTPS the page shows the TLS figures: handshakes (its own
    polling makes them), failures, reloads and the certificate served."""

    @classmethod
    def setUpClass(cls):
        if not cdp.find_chromium():
            raise unittest.SkipTest("chromium is not installed "
                                    "(apt-get install chromium); skipped")
        cls.dir = tempfile.mkdtemp(prefix="brisk-status-tls.")
        cert, key = os.path.join(cls.dir, "cert.pem"), os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=brisk-status-test",
                        "-days", "1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        cls.server, cls.port = start_server(SERVER, [f"--tls_cert={cert}", f"--tls_key={key}"])
        # Self-signed for the test: the browser is told not to check it.
        cls.browser = cdp.Browser(timeout=60, extra_flags=["--ignore-certificate-errors"])

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.server.terminate()
        cls.server.wait(timeout=15)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_page_shows_tls_handshakes_and_the_certificate(self):
        page = self.browser.new_page(1200, 900)
        page.navigate(f"https://127.0.0.1:{self.port}/status")
        deadline = time.monotonic() + 30
        rows = {}
        while time.monotonic() < deadline:
            rows = page.evaluate(READ_TLS_ROWS) or {}
            if rows.get("tls_rate", "").strip("– ·") and "tls_certificate" in rows:
                break
            time.sleep(0.2)
        self.assertIn("CN=brisk-status-test", rows.get("tls_certificate", ""), rows)
        self.assertIn("ECDSA P-256", rows["tls_certificate"])
        self.assertIn("tls_failures", rows)
        self.assertEqual(rows.get("tls_reloads"), "0 · 0", rows)
        # The snapshot says how many handshakes it took to serve it.
        page.navigate(f"https://127.0.0.1:{self.port}/status.json")
        snap = page.evaluate("JSON.parse(document.body.innerText)")
        tls = snap["tls"]
        self.assertGreaterEqual(tls["full"] + tls["resumed"], 1)
        self.assertEqual(tls["failures"], sum(tls["failures_by_reason"].values()))
        self.assertIn("CN=brisk-status-test", tls["certificate"])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: status_page_test.py SERVER LOADGEN [unittest args]")
    SERVER, LOADGEN = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
