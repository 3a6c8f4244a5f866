"""brisk's external repositories: for brisk's own WORKSPACE and a team's.

All come from Debian's packages (tools/bazel installs them) or from local
stand-ins in third_party/, under the upstream repository names, so nothing
is downloaded. A team that depends on brisk from its own workspace:

    local_repository(name = "brisk", path = "third_party/brisk")
    load("@brisk//bazel:deps.bzl", "brisk_dependencies")
    brisk_dependencies(brisk_path = "third_party/brisk")

and, in its .bazelrc, `build --cxxopt=-std=c++20 --host_cxxopt=-std=c++20`
(brisk's headers are C++20) and `build -c opt` (the figures in brisk's
README are for optimised builds); see README.md, "Embedding".
Repositories the workspace already defines are left alone.
"""

load("//third_party:system_libs.bzl", "system_absl")

def _system_lib(name, build_file):
    if not native.existing_rule(name):
        native.new_local_repository(
            name = name,
            build_file = str(Label("//third_party:" + build_file)),
            path = "/usr",
        )

def brisk_dependencies(brisk_path = "."):
    """Declares the repositories brisk's targets need.

    Args:
      brisk_path: where brisk is, relative to the workspace root (the path
        given to its local_repository); "." in brisk's own workspace.
    """

    # Bazel 4.2.3 (Debian's bazel-bootstrap) would download these three;
    # brisk keeps tiny local stand-ins so every build works offline.
    for name in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        if not native.existing_rule(name):
            native.local_repository(
                name = name,
                path = brisk_path + "/third_party/" + name,
            )
    if not native.existing_rule("com_google_absl"):
        system_absl(name = "com_google_absl")
    _system_lib("com_google_googletest", "googletest.BUILD")
    _system_lib("com_github_google_benchmark", "benchmark.BUILD")
    _system_lib("oneTBB", "onetbb.BUILD")
    _system_lib("liburing", "liburing.BUILD")
    _system_lib("com_github_nodejs_http_parser", "http_parser.BUILD")

    # TLS: OpenSSL 3 (libssl-dev).
    _system_lib("openssl", "openssl.BUILD")

    # examples/fraud_scoring: XGBoost's C API and simdjson.
    _system_lib("xgboost", "xgboost.BUILD")
    _system_lib("simdjson", "simdjson.BUILD")
