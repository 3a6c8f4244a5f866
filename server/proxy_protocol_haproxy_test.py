#!/usr/bin/env python3
"""The PROXY protocol against the real HAProxy, TLS passed through.

HAProxy in TCP mode (it never sees inside the TLS, so it cannot add
X-Forwarded-For) relays to the server binary with `send-proxy` (v1) on one
frontend and `send-proxy-v2` on another, health-checking it as operators
do (plain TCP checks, and `check-send-proxy` v2 LOCAL checks). The server
runs with --tls_cert/--tls_key --proxy_protocol --trusted_proxies=127.0.0.1.
Clients connect from 127.0.0.2 (loopback, another address) through each
frontend; checked:

  * every request is answered 200 over TLS, and the access log names the
    client, 127.0.0.2, not HAProxy's 127.0.0.1;
  * HAProxy's health checks are taken (LOCAL headers counted) and none is
    counted as an invalid header;
  * the same client connecting straight to the server (not a trusted
    proxy) is refused and counted.

  tools/bazel test //server:proxy_protocol_haproxy_test
  server/proxy_protocol_haproxy_test.py bazel-bin/server/server

Loopback only; every wait is bounded; it stops what it started, by pid.
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

SERVER = None
CLIENT_ADDRESS = "127.0.0.2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, seconds=20.0, what="condition"):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class ProxyProtocolHaproxyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.haproxy_bin = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.access(cls.haproxy_bin, os.X_OK):
            raise AssertionError("haproxy is not installed (.ci/run installs it: "
                                 "apt-get install haproxy)")
        cls.dir = tempfile.mkdtemp(prefix="brisk-pp-")
        cls.cert = os.path.join(cls.dir, "cert.pem")
        cls.key = os.path.join(cls.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", cls.key, "-out", cls.cert,
             "-days", "2", "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60)
        cls.access_log = os.path.join(cls.dir, "access.log")
        cls.server_out = open(os.path.join(cls.dir, "server.out"), "w+")
        cls.server = subprocess.Popen(
            [SERVER, "--address=127.0.0.1", "--port=0", "--workers=1", "--reactors=1",
             f"--tls_cert={cls.cert}", f"--tls_key={cls.key}", "--proxy_protocol",
             "--trusted_proxies=127.0.0.1", f"--access_log={cls.access_log}"],
            stdout=cls.server_out, stderr=subprocess.STDOUT)

        def port():
            cls.server_out.seek(0)
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", cls.server_out.read())
            return int(m.group(1)) if m else None
        cls.server_port = wait_for(port, what="the server to listen")
        cls.v1_port, cls.v2_port = free_port(), free_port()
        config = os.path.join(cls.dir, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(f"""global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend v1
    bind 127.0.0.1:{cls.v1_port}
    default_backend v1
backend v1
    server brisk 127.0.0.1:{cls.server_port} send-proxy check inter 100ms
frontend v2
    bind 127.0.0.1:{cls.v2_port}
    default_backend v2
backend v2
    server brisk 127.0.0.1:{cls.server_port} send-proxy-v2 check inter 100ms check-send-proxy
""")
        cls.haproxy_out = open(os.path.join(cls.dir, "haproxy.out"), "w+")
        cls.haproxy = subprocess.Popen([cls.haproxy_bin, "-db", "-f", config],
                                       stdout=cls.haproxy_out, stderr=subprocess.STDOUT)

        def listening():
            for p in (cls.v1_port, cls.v2_port):
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=1).close()
                except OSError:
                    return False
            return True
        wait_for(listening, what="haproxy to listen")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.haproxy, cls.server):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        cls.server_out.close()
        cls.haproxy_out.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def https_get(self, port, target):
        """GET over TLS from CLIENT_ADDRESS to 127.0.0.1:port; (status, body)."""
        context = ssl.create_default_context(cafile=self.cert)
        raw = socket.socket()
        raw.settimeout(10)
        raw.bind((CLIENT_ADDRESS, 0))
        raw.connect(("127.0.0.1", port))
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        return status, body.decode()

    def metric(self, body, name):
        m = re.search("^" + re.escape(name) + r" (\d+)$", body, re.M)
        self.assertIsNotNone(m, name)
        return int(m.group(1))

    def test_clients_through_haproxy_are_named(self):
        for port in (self.v1_port, self.v2_port):
            for _ in range(3):
                status, body = self.https_get(port, "/hello")
                self.assertEqual(status, 200)
        # HAProxy's checks (v2 LOCAL) keep arriving and are taken; neither
        # kind of check is an invalid header.
        def checked():
            _, m = self.https_get(self.v2_port, "/metrics")
            return m if self.metric(m, 'brisk_proxy_protocol_headers_total{version="2"}') > 10 \
                else None
        metrics = wait_for(checked, what="haproxy's v2 health checks")
        self.assertGreaterEqual(
            self.metric(metrics, 'brisk_proxy_protocol_headers_total{version="1"}'), 3)
        self.assertEqual(
            self.metric(metrics, 'brisk_proxy_protocol_refused_total{reason="invalid"}'), 0)
        with open(self.access_log) as f:
            lines = [l for l in f if '"GET /hello ' in l]
        self.assertEqual(len(lines), 6, lines)
        for line in lines:
            self.assertTrue(line.startswith(CLIENT_ADDRESS + " - - ["), line)

    def test_a_client_straight_to_the_server_is_refused(self):
        raw = socket.socket()
        raw.settimeout(10)
        raw.bind((CLIENT_ADDRESS, 0))
        raw.connect(("127.0.0.1", self.server_port))
        raw.sendall(b"PROXY TCP4 6.6.6.6 127.0.0.1 1 443\r\n")
        try:
            self.assertEqual(raw.recv(100), b"")  # closed, nothing said
        except ConnectionResetError:
            pass
        raw.close()
        _, metrics = self.https_get(self.v1_port, "/metrics")
        self.assertGreaterEqual(
            self.metric(metrics, 'brisk_proxy_protocol_refused_total{reason="untrusted_peer"}'),
            1)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: proxy_protocol_haproxy_test.py SERVER_BINARY")
    SERVER = os.path.abspath(sys.argv.pop(1))
    unittest.main()
