"""A system that refuses threads fails the start with the reason, exit 1.

A container's limit on processes (here RLIMIT_NPROC, set with prlimit for an
unprivileged user id of the test's own, since the limit never binds root) makes
pthread_create fail with EAGAIN. The worker pool's constructor used to throw
std::system_error out of Start(), and the binary died of it (abort, exit
134); reactor and control threads were no better. Now each failure is a
ResourceExhausted status naming the thread, and the binary exits 1 with it.

Usage: server/thread_limit_test.py bazel-bin/server/server
Runs outside Bazel's sandbox (tag no-sandbox): setuid needs the machine's
own user ids.

RLIMIT_NPROC counts every process and thread of the real user id, machine
wide. As nobody, another test's processes (or a second run of this one)
took places under the limit and moved the refused thread: a walk that
expects each thread to be refused once missed one. The test runs as a user
id no account has and no process runs as, picked per run.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import unittest

BINARY = None


def unused_uid():
    """A user id no account has and no process runs as."""
    busy = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        busy.update(int(u) for u in line.split()[1:])
                        break
        except OSError:
            continue  # gone meanwhile
    start = 40000 + os.getpid() % 20000  # concurrent runs start apart
    for uid in list(range(start, 60000)) + list(range(40000, start)):
        if uid in busy:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise RuntimeError("no unused user id in 40000-59999")


class ThreadLimitTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to run the server as another user")
        for tool in ("/usr/bin/setpriv", "/usr/bin/prlimit"):
            if not os.access(tool, os.X_OK):
                self.skipTest(f"needs util-linux's {tool}")
        self.uid = unused_uid()
        self.as_user = ["/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                        "--clear-groups"]
        self.dir = tempfile.mkdtemp(prefix="brisk-threads-")
        os.chmod(self.dir, 0o755)
        # A copy any user may run (Bazel's output tree is root's alone).
        self.bin = os.path.join(self.dir, "server")
        shutil.copy(BINARY, self.bin)
        os.chmod(self.bin, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_limited(self, *flags, nproc=64):
        return subprocess.run(
            [*self.as_user, "/usr/bin/prlimit", f"--nproc={nproc}", self.bin,
             "--address=127.0.0.1", "--port=0", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)

    def test_too_many_threads_fail_the_start_with_the_reason(self):
        cases = {
            "--workers=4000": "cannot start worker thread",
            "--reactors=1000": "cannot start a reactor thread",
        }
        for flag, reason in cases.items():
            with self.subTest(flag=flag):
                r = self.run_limited(flag)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("RESOURCE_EXHAUSTED: " + reason, r.stderr)
                self.assertNotIn("listening on", r.stdout)

    def test_every_thread_the_start_needs_fails_it_cleanly(self):
        # Under one limit, each extra worker moves the refused thread one
        # step later in Start(): the workers, then the handover thread, the
        # reactors, the control thread. Counting down from a worker count
        # that cannot fit to the first that starts walks every one of them:
        # each refusal exits 1 with its reason, before "listening on", and
        # takes the handover socket file with it (the next start would
        # otherwise find a stale one).
        sock_dir = os.path.join(self.dir, "sock")
        os.mkdir(sock_dir)
        os.chown(sock_dir, self.uid, self.uid)
        sock = os.path.join(sock_dir, "handover.sock")
        reasons = []
        for workers in range(64, 0, -1):
            p = subprocess.Popen(
                [*self.as_user, "/usr/bin/prlimit", "--nproc=64", self.bin, "--address=127.0.0.1",
                 "--port=0", f"--workers={workers}", f"--handover_socket={sock}"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            if line.startswith("listening on"):
                p.terminate()
                self.assertEqual(p.wait(timeout=30), 0)
                p.stdout.close()
                p.stderr.close()
                break
            err = p.stderr.read()
            self.assertEqual(p.wait(timeout=30), 1, err)
            p.stdout.close()
            p.stderr.close()
            self.assertIn("RESOURCE_EXHAUSTED: ", err)
            self.assertFalse(os.path.exists(sock), f"--workers={workers}: {err}")
            reasons.append(err.split("RESOURCE_EXHAUSTED: ", 1)[1].strip())
        else:
            self.fail("never started: " + repr(reasons))
        for thread in ("worker thread", "the handover thread", "a reactor thread",
                       "the control thread"):
            self.assertTrue(any(("cannot start " + thread) in r for r in reasons),
                            f"{thread} never refused: {reasons}")
        self.assertIn("handover socket " + sock + ": cannot start the handover thread",
                      "\n".join(reasons))

    def test_within_the_limit_it_starts(self):
        # The same limit leaves room for the default threads: the failure
        # above is the limit's, not the setup's.
        p = subprocess.Popen(
            [*self.as_user, "/usr/bin/prlimit", "--nproc=64", self.bin, "--address=127.0.0.1",
             "--port=0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            self.assertIn("listening on http://", line)
        finally:
            p.terminate()
            p.wait(timeout=30)
            p.stdout.close()
            p.stderr.close()


if __name__ == "__main__":
    BINARY = sys.argv.pop(1)
    unittest.main()
