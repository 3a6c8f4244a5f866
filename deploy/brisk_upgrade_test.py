#!/usr/bin/env python3
"""The test of deploy/brisk-upgrade, run against a stand-in systemctl.

deploy/testing/systemctl runs brisk@PORT and brisk-next@PORT with the units'
own ExecStart lines (Restart=on-failure after 1 s, MainPID, NRestarts; see
that file), with /usr/local/bin and /run/brisk under a temporary directory.
The installed "old" binary and the "new" one are small scripts that exec the
server binary (so the unit's MainPID is the server), or fail on purpose.
Cases:

  happy        the new binary takes over, is installed, and brisk@PORT
               serves it again; no connection to the port fails meanwhile.
  exit1        the new binary exits 1 at once (a crash loop): exit 1 within
               seconds, the old process serves on, brisk.new removed, the
               installed binary untouched.
  crash        the new binary takes over, then crashes (SIGSEGV): exit 1,
               brisk@PORT serves again on the untouched installed binary.
  long_drain   the new binary takes over while the old process still
               answers a 20 s stream, longer than BRISK_UPGRADE_TIMEOUT:
               exit 3, the new one keeps the sockets (nothing stopped), the
               old one drains on.
  wrong_port   a port with no brisk@ unit, and a word: exit 2, nothing
               started.

Each case is bounded (polls with deadlines; the script runs under a
timeout); about 25 s in all. Prints a line per check and "brisk-upgrade
test: PASS" or "FAIL"; exit 0 on PASS. Loopback only; stops what it started.

Usage: deploy/brisk_upgrade_test.py --server=bazel-bin/server/server
    [--script=deploy/brisk-upgrade] [--case=happy] [--keep]
"""

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from deploy_test import free_port, http_status  # noqa: E402

STANDIN = os.path.join(HERE, "testing", "systemctl")
FLAGS = "--reactors=1 --workers=1 --drain_grace=0.2s"


class Case:
    """A temporary root for the stand-in, brisk@PORT running the old binary."""

    def __init__(self, args, name, new_script, drain_timeout="5s"):
        self.args = args
        self.name = name
        self.root = tempfile.mkdtemp(prefix=f"brisk-upgrade-{name}.")
        self.bin = os.path.join(self.root, "usr", "local", "bin")
        os.makedirs(self.bin)
        self.old_text = f'#!/bin/sh\n# old\nexec "{args.server}" "$@"\n'
        self.new_text = new_script.replace("SERVER", args.server)
        self.write("brisk", self.old_text)
        self.write("brisk.new", self.new_text)
        self.port = free_port()
        self.env = dict(os.environ, FAKE_SYSTEMD_ROOT=self.root,
                        FAKE_SYSTEMD_UNITS=args.units, FAKE_SYSTEMD_MAX_S="90",
                        BRISK_FLAGS=f"{FLAGS} --drain_timeout={drain_timeout}",
                        BRISK_UPGRADE_BIN=os.path.join(self.bin, "brisk"),
                        PATH=os.path.dirname(STANDIN) + os.pathsep + os.environ["PATH"])
        self.problems = []

    def write(self, name, text):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    def installed(self):
        try:
            return open(os.path.join(self.bin, "brisk")).read()
        except OSError:
            return None

    def systemctl(self, *argv):
        return subprocess.run([STANDIN, *argv], env=self.env, capture_output=True,
                              text=True, timeout=30).stdout.strip()

    def main_pid(self, unit):
        return int(self.systemctl("show", "-p", "MainPID", "--value", f"{unit}@{self.port}") or 0)

    def state(self, unit):
        return self.systemctl("is-active", f"{unit}@{self.port}")

    def listener_pids(self):
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{self.port}"], capture_output=True,
                             text=True, timeout=10).stdout
        return {int(p.split(",")[0]) for p in out.split("pid=")[1:]}

    def start_old(self):
        self.systemctl("start", f"brisk@{self.port}")
        if not poll(lambda: http_status(self.port, "/readyz") == 200, 10):
            raise RuntimeError(f"brisk@{self.port} did not start: {self.log('brisk')}")
        self.old_pid = self.main_pid("brisk")

    def upgrade(self, port=None, timeout_s=20, settle_s=1):
        env = dict(self.env, BRISK_UPGRADE_TIMEOUT=str(timeout_s),
                   BRISK_UPGRADE_SETTLE=str(settle_s))
        t0 = time.monotonic()
        try:
            r = subprocess.run(["bash", self.args.script, str(port or self.port)], env=env,
                               capture_output=True, text=True, timeout=90)
            rc, out = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            rc, out = "timeout", f"{e.stdout or ''}{e.stderr or ''}"
        self.seconds = time.monotonic() - t0
        self.output = out
        print(f"  brisk-upgrade {port or self.port}: exit {rc} after {self.seconds:.1f}s")
        for line in out.strip().splitlines():
            print(f"    | {line}")
        return rc

    def check(self, ok, text):
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")
        if not ok:
            self.problems.append(f"{self.name}: {text}")

    def log(self, unit):
        try:
            return open(os.path.join(self.root, f"{unit}@{self.port}.log")).read()[-500:]
        except OSError:
            return ""

    def close(self):
        for unit in ("brisk-next", "brisk"):
            try:
                self.systemctl("stop", f"{unit}@{self.port}")
            except subprocess.TimeoutExpired:
                pass
        # Whatever the stand-in still runs (its supervisors, a stuck process).
        for f in glob.glob(os.path.join(self.root, "state", "*.supervisor")) + \
                glob.glob(os.path.join(self.root, "state", "*.pid")):
            try:
                pid = int(open(f).read())
                if pid > 0:
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        if self.args.keep:
            print(f"  kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def poll(predicate, timeout, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


class Prober(threading.Thread):
    """Connects to the port every 20 ms, GET /readyz; counts failures."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.tries, self.failed = port, 0, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.tries += 1
            if http_status(self.port, "/readyz") is None:
                self.failed += 1
            time.sleep(0.02)


def case_happy(c):
    c.start_old()
    prober = Prober(c.port)
    prober.start()
    rc = c.upgrade()
    prober.stop.set()
    prober.join()
    c.check(rc == 0, f"exit 0 (got {rc})")
    c.check(c.installed() == c.new_text, "the new binary is installed")
    c.check(not os.path.exists(os.path.join(c.bin, "brisk.new")), "brisk.new is gone")
    pid = c.main_pid("brisk")
    c.check(pid not in (0, c.old_pid) and c.listener_pids() == {pid},
            f"brisk@ runs a new process ({pid}) that holds the listener ({c.listener_pids()})")
    c.check(poll(lambda: c.state("brisk-next") == "inactive", 10), "brisk-next@ ended")
    c.check(prober.tries > 20 and prober.failed == 0,
            f"no connection failed during the upgrade ({prober.failed} of {prober.tries})")


def case_exit1(c):
    c.start_old()
    rc = c.upgrade(timeout_s=30)
    c.check(rc == 1, f"exit 1 (got {rc})")
    c.check(c.seconds < 6, f"noticed at once ({c.seconds:.1f}s, timeout 30s)")
    c.check(f"new binary failed to start; see journalctl -u brisk-next@{c.port}" in c.output,
            "says the new binary failed to start, and where to look")
    c.check(c.installed() == c.old_text, "the installed binary is untouched")
    c.check(not os.path.exists(os.path.join(c.bin, "brisk.new")), "brisk.new is removed")
    c.check(c.state("brisk-next") == "inactive", f"brisk-next@ is inactive ({c.state('brisk-next')})")
    c.check(c.main_pid("brisk") == c.old_pid and c.listener_pids() == {c.old_pid},
            "the old process serves on, holding the listener")
    c.check(http_status(c.port, "/readyz") == 200, "/readyz 200")


def case_crash(c):
    c.start_old()
    rc = c.upgrade(settle_s=4)
    c.check(rc == 1, f"exit 1 (got {rc})")
    c.check(c.installed() == c.old_text, "the installed binary is untouched")
    c.check(not os.path.exists(os.path.join(c.bin, "brisk.new")), "brisk.new is removed")
    pid = c.main_pid("brisk")
    c.check(pid != 0 and c.listener_pids() == {pid},
            f"brisk@ (pid {pid}, the old binary) holds the listener ({c.listener_pids()})")
    c.check(http_status(c.port, "/readyz") == 200, "/readyz 200")
    c.check(poll(lambda: c.state("brisk-next") == "inactive", 5),
            f"brisk-next@ is inactive ({c.state('brisk-next')})")


def case_long_drain(c):
    c.start_old()
    # A stream on the old process: 200 events 100 ms apart (20 s).
    stream = socket.create_connection(("127.0.0.1", c.port), timeout=5)
    stream.sendall(b"GET /events?n=200&ms=100 HTTP/1.1\r\nHost: t\r\n\r\n")
    stream.recv(4096)
    try:
        rc = c.upgrade(timeout_s=3)
        c.check(rc == 3, f"exit 3 (got {rc})")
        c.check(c.seconds < 15, f"returned after the timeout ({c.seconds:.1f}s)")
        nxt = c.main_pid("brisk-next")
        c.check(c.state("brisk-next") == "active" and nxt and c.listener_pids() == {nxt},
                f"the new process (brisk-next@, pid {nxt}) keeps the listener "
                f"({c.listener_pids()})")
        c.check(http_status(c.port, "/readyz") == 200, "port answers /readyz 200")
        c.check(c.state("brisk") == "active" and c.main_pid("brisk") == c.old_pid,
                "the old process still drains (not stopped)")
        c.check(c.installed() == c.new_text, "the new binary is installed (it took over)")
        stream.settimeout(2)
        c.check(bool(stream.recv(4096)), "the stream on the old process goes on")
        c.check(f"systemctl start brisk@{c.port}" in c.output, "says how to finish")
    finally:
        stream.close()


def case_wrong_port(c):
    c.start_old()
    other = free_port()
    for port in (other, "80x"):
        rc = c.upgrade(port=port)
        c.check(rc == 2, f"port {port}: exit 2 (got {rc})")
        c.check("usage" in c.output, f"port {port}: prints the usage")
    log = open(os.path.join(c.root, "systemctl.log")).read()
    c.check("start brisk-next" not in log, "nothing was started")
    c.check(c.installed() == c.old_text and os.path.exists(os.path.join(c.bin, "brisk.new")),
            "no file touched")


GOOD = '#!/bin/sh\n# new\nexec "SERVER" "$@"\n'
CASES = {
    "happy": (case_happy, GOOD, "5s"),
    "exit1": (case_exit1, '#!/bin/sh\necho "new binary: broken" >&2\nexit 1\n', "5s"),
    # The server's own pid is the shell's ($$, kept by exec): SIGSEGV 1.5 s in.
    "crash": (case_crash, '#!/bin/sh\n# new, crashes\n(sleep 1.5; kill -SEGV $$) &\n'
              'exec "SERVER" "$@"\n', "5s"),
    "long_drain": (case_long_drain, GOOD, "30s"),
    "wrong_port": (case_wrong_port, GOOD, "5s"),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", required=True)
    p.add_argument("--script", default=os.path.join(HERE, "brisk-upgrade"),
                   help="the upgrade script to test (e.g. an older version)")
    p.add_argument("--units", default=HERE, help="directory of brisk@ and brisk-next@.service")
    p.add_argument("--case", action="append", choices=sorted(CASES),
                   help="run only these cases")
    p.add_argument("--keep", action="store_true", help="keep each case's directory")
    args = p.parse_args()
    args.server = os.path.abspath(args.server)
    t0 = time.monotonic()
    problems = []
    for name in args.case or CASES:
        run, new_script, drain_timeout = CASES[name]
        print(f"--- {name}")
        c = Case(args, name, new_script, drain_timeout)
        try:
            run(c)
        except Exception as e:  # the report must end with the verdict
            c.problems.append(f"{name}: {type(e).__name__}: {e}")
            print(f"  FAIL {type(e).__name__}: {e}")
        finally:
            c.close()
        problems += c.problems
    print(f"{time.monotonic() - t0:.1f}s")
    if problems:
        for f in problems:
            print(f"FAIL: {f}")
        print(f"brisk-upgrade test: FAIL ({problems[0]}"
              f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''})")
        return 1
    print("brisk-upgrade test: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
