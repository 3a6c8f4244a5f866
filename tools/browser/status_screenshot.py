#!/usr/bin/env python3
"""Draws docs/status.png: the demo server's /status page under load.

Starts the server binary on 127.0.0.1 (a free port), offers a mixed load
with tools/loadgen (an inline route, two offloaded ones, and a burst of a
heavy route in the middle that admission control partly refuses), opens
/status in headless Chromium and takes a screenshot once the page has a
minute of history. Loopback only; stops everything it started.

  tools/browser/status_screenshot.sh            # builds, then runs this
  tools/browser/status_screenshot.py SERVER LOADGEN [--out=docs/status.png]
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("server")
    p.add_argument("loadgen")
    p.add_argument("--out", default="docs/status.png")
    p.add_argument("--seconds", type=int, default=60, help="history before the shot")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=1020)
    args = p.parse_args()

    server = subprocess.Popen([args.server, "--address=127.0.0.1", "--port=0",
                               "--workers=4", "--drain_grace=0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    procs = [server]
    try:
        m = re.search(r":(\d+)$", server.stdout.readline().strip())
        if not m:
            sys.exit("the server did not start")
        port = m.group(1)
        total = args.seconds + 15
        base = [args.loadgen, "--host=127.0.0.1", f"--port={port}"]
        procs.append(subprocess.Popen(base + [
            f"--duration={total}s",
            "--request=hello rate=2000 target=/hello connections=8",
            "--request=cpu rate=150 target=/cpu?us=300 connections=8 "
            "header=\"X-Request-Budget-Ms: 20\"",
            "--request=slow rate=40 target=/slow?ms=25 connections=16",
            "--request=report rate=15 target=/report?us=20000 connections=16 "
            "header=\"X-Request-Budget-Ms: 150\""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with cdp.Browser() as browser:
            page = browser.new_page(args.width, args.height)
            page.navigate(f"http://127.0.0.1:{port}/status")
            start = time.monotonic()
            burst = None
            while time.monotonic() - start < args.seconds:
                if burst is None and time.monotonic() - start > args.seconds * 0.6:
                    # A burst of the heavy route: more than the workers can
                    # finish within its budget; the excess is refused.
                    burst = subprocess.Popen(base + [
                        f"--duration={int(args.seconds * 0.4) + 10}s",
                        "--request=burst rate=100 target=/report?us=20000 "
                        "connections=64 header=\"X-Request-Budget-Ms: 150\""],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    procs.append(burst)
                time.sleep(0.5)
            page.wait_for("+document.body.dataset.updates > 10")
            png = page.screenshot()
            if page.exceptions or page.console_errors:
                sys.exit(f"page errors: {page.exceptions} {page.console_errors}")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "wb") as f:
            f.write(png)
        print(f"wrote {args.out} ({len(png)} bytes)")
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
