"""brisk's layering rules, checked on the #include lines of every source.

The layers (see ../shared/design/architecture.md):
  concurrency/  knows no sockets, no HTTP, no server
  net/          knows no HTTP, no TLS, no server
  http/         knows no sockets, threads, clocks or TLS, no server
  tls/          knows no sockets, no HTTP, no server (bytes in, bytes out)
  tools/        may use the components, never server/
  server/, examples/  may use everything public (of server/, only its
                public headers: SERVER_PUBLIC)
  testing/      test support that knows no layer; test files of any
                package may include it
Test files (*_test.cc, *_benchmark.cc, *_fuzzer.cc, testing/) may use
threads and clocks, but never a layer their package may not include.

Usage: layering.py FILE...  (paths relative to the workspace root)
Prints one line per violation; exit status 1 if there is any.
"""
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)

# Package -> project directories it may include from (besides its own).
ALLOWED_PROJECT = {
    "concurrency": set(),
    "net": set(),
    "http": set(),
    "tls": set(),
    "tools": {"net", "http", "concurrency", "tools"},
    "server": {"net", "http", "concurrency", "tls", "server"},
    "examples": {"server", "http", "examples"},
    "testing": set(),
}
# What other packages may include from server/: its public headers. Bazel
# visibility keeps them from depending on server/'s internal targets, but not
# from including an internal header that reaches them through a public
# target (connection.h through //server:http_server, exchange.h through
# //server:handler); this does.
SERVER_PUBLIC = {"server/http_server.h", "server/handler.h", "server/sse.h",
                 "server/flags.h", "server/tls_options.h", "server/metrics.h",
                 "server/testing/fake_request.h"}
# Test support examples' tests may use besides (//server:raw_client).
SERVER_TEST_SUPPORT = {"server/testing/raw_client.h", "server/testing/gate.h"}
PROJECT_DIRS = {"concurrency", "net", "http", "tls", "server", "tools",
                "examples", "bazel", "testing"}

SOCKETS = ("sys/socket.h", "netinet/", "sys/epoll.h",
           "liburing.h", "sys/un.h", "netdb.h")  # (arpa/inet.h only formats addresses)
THREADS = ("thread", "mutex", "condition_variable", "shared_mutex",
           "future", "pthread.h", "semaphore")
CLOCKS = ("chrono", "ctime", "time.h", "sys/time.h")
TLS = ("openssl/",)

# Package -> system headers it may not include, in library code / anywhere.
FORBIDDEN_SYSTEM = {
    "testing": {"anywhere": SOCKETS + TLS},
    "concurrency": {"anywhere": SOCKETS + TLS},
    "net": {"anywhere": TLS},
    "http": {"anywhere": SOCKETS + TLS, "library": THREADS + CLOCKS},
    "tls": {"anywhere": SOCKETS},
}


def is_test_file(path):
    name = path.rsplit("/", 1)[-1]
    return ("/testing/" in path or name.endswith("_test.cc") or
            name.endswith("_benchmark.cc") or name.endswith("_fuzzer.cc"))


def package_of(path):
    return path.split("/", 1)[0]


def check_source(path, text):
    """Returns the violations (strings) of one file's includes."""
    pkg = package_of(path)
    if pkg not in ALLOWED_PROJECT:
        return []
    problems = []
    for kind, target in INCLUDE.findall(text):
        top = target.split("/", 1)[0]
        if kind == '"' and top in PROJECT_DIRS and "/" in target:
            allowed = (top == pkg or top in ALLOWED_PROJECT[pkg] or top == "bazel" or
                       (top == "testing" and is_test_file(path)))
            if not allowed:
                problems.append(f"{path}: {pkg}/ may not include {target}")
            elif (top == "server" and pkg != "server" and target not in SERVER_PUBLIC and
                  not (is_test_file(path) and target in SERVER_TEST_SUPPORT)):
                problems.append(f"{path}: {target} is internal to server/")
            continue
        rules = FORBIDDEN_SYSTEM.get(pkg, {})
        banned = rules.get("anywhere", ())
        if not is_test_file(path):
            banned = banned + rules.get("library", ())
        for b in banned:
            if target == b or (b.endswith("/") and target.startswith(b)):
                problems.append(f"{path}: {pkg}/ may not include <{target}>")
    return problems


def main(paths):
    problems = []
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            problems.extend(check_source(p, f.read()))
    for line in problems:
        print(line)
    print(f"layering: {len(paths)} files, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
