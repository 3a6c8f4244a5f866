"""Checks the whole tree against bazel/layering.py, and checks that the
checker catches each kind of violation (so a passing run means something)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layering  # noqa: E402


class CheckerCatchesViolations(unittest.TestCase):
    def bad(self, path, text):
        return layering.check_source(path, text)

    def test_net_including_http(self):
        self.assertTrue(self.bad("net/x.cc", '#include "http/request.h"\n'))

    def test_http_including_net(self):
        self.assertTrue(self.bad("http/x.h", '#include "net/socket.h"\n'))

    def test_http_reaching_a_socket(self):
        self.assertTrue(self.bad("http/x.cc", "#include <sys/socket.h>\n"))

    def test_http_threads_in_library_code_only(self):
        self.assertTrue(self.bad("http/x.cc", "#include <thread>\n"))
        self.assertFalse(self.bad("http/x_test.cc", "#include <thread>\n"))

    def test_concurrency_reaching_a_socket(self):
        self.assertTrue(self.bad("concurrency/q.h", "#include <sys/epoll.h>\n"))

    def test_components_never_include_server(self):
        for pkg in ("net", "http", "concurrency", "tls", "tools"):
            self.assertTrue(
                self.bad(f"{pkg}/a.cc", '#include "server/http_server.h"\n'), pkg)

    def test_tls_knows_no_sockets_or_http(self):
        self.assertTrue(self.bad("tls/s.cc", '#include "http/request.h"\n'))
        self.assertTrue(self.bad("tls/s.cc", "#include <netinet/in.h>\n"))

    def test_testing_is_for_tests_and_knows_no_layer(self):
        self.assertFalse(self.bad("net/unix_socket_test.cc", '#include "testing/temp_dir.h"\n'))
        self.assertFalse(self.bad("tls/testing/t.cc", '#include "testing/temp_dir.h"\n'))
        self.assertTrue(self.bad("net/socket.cc", '#include "testing/temp_dir.h"\n'))
        self.assertTrue(self.bad("testing/t.cc", '#include "net/socket.h"\n'))
        self.assertTrue(self.bad("testing/t.cc", "#include <openssl/ssl.h>\n"))

    def test_server_internals_stay_in_server(self):
        # Reachable through public targets, so only this check stops them.
        self.assertTrue(self.bad("examples/e/m.cc", '#include "server/connection.h"\n'))
        self.assertTrue(self.bad("examples/e/m.cc", '#include "server/exchange.h"\n'))
        self.assertTrue(self.bad("examples/e/m.cc", '#include "server/cancel_state.h"\n'))
        self.assertTrue(self.bad("examples/e/m.cc", '#include "server/testing/raw_client.h"\n'))
        self.assertFalse(self.bad("examples/e/m_test.cc", '#include "server/testing/raw_client.h"\n'))
        self.assertFalse(self.bad("examples/e/m.cc", '#include "server/sse.h"\n'))
        self.assertFalse(self.bad("server/http_server.cc", '#include "server/connection.h"\n'))

    def test_allowed_includes(self):
        self.assertFalse(self.bad("server/c.cc", '#include "net/stream.h"\n'))
        self.assertFalse(self.bad("tools/loadgen/l.cc", '#include "net/socket.h"\n'))
        self.assertFalse(self.bad("examples/e/m.cc", '#include "server/handler.h"\n'))
        self.assertFalse(self.bad("net/s.cc", "#include <sys/socket.h>\n"))


class TreeFollowsTheRules(unittest.TestCase):
    def test_every_source(self):
        root = os.environ.get("TEST_SRCDIR", "")
        files = []
        for top in ("concurrency", "net", "http", "tls", "server", "tools",
                    "examples", "testing"):
            base = os.path.join(root, "brisk", top) if root else top
            for dirpath, _, names in os.walk(base):
                for n in names:
                    if n.endswith((".h", ".cc")):
                        full = os.path.join(dirpath, n)
                        files.append(os.path.relpath(full, os.path.join(root, "brisk") if root else "."))
        self.assertGreater(len(files), 50)  # the sources are really there
        problems = []
        for f in files:
            full = os.path.join(root, "brisk", f) if root else f
            with open(full, encoding="utf-8", errors="replace") as fh:
                problems.extend(layering.check_source(f, fh.read()))
        self.assertEqual(problems, [])


if __name__ == "__main__":
    unittest.main()
