"""Repository rules that wrap Debian's packaged C++ libraries for Bazel.

The machines this project builds on reach Debian's archive and nothing else,
so the libraries come from `apt-get` (see tools/bazel). The wrappers keep the
repository names and target labels of the upstream projects
(`@com_google_absl//absl/strings`, `@com_google_googletest//:gtest_main`, ...),
so that a user with network access can swap them for `http_archive` without
touching a BUILD file.
"""

# Upstream abseil label -> pkg-config module shipped by libabsl-dev.
_ABSL_TARGETS = {
    "absl/algorithm": {"algorithm": "absl_algorithm", "container": "absl_algorithm_container"},
    "absl/base": {"base": "absl_base", "core_headers": "absl_core_headers", "log_severity": "absl_log_severity"},
    "absl/cleanup": {"cleanup": "absl_cleanup"},
    "absl/container": {
        "btree": "absl_btree",
        "fixed_array": "absl_fixed_array",
        "flat_hash_map": "absl_flat_hash_map",
        "flat_hash_set": "absl_flat_hash_set",
        "inlined_vector": "absl_inlined_vector",
        "node_hash_map": "absl_node_hash_map",
    },
    "absl/debugging": {
        "failure_signal_handler": "absl_failure_signal_handler",
        "stacktrace": "absl_stacktrace",
        "symbolize": "absl_symbolize",
    },
    "absl/flags": {
        "config": "absl_flags_config",
        "flag": "absl_flags",
        "marshalling": "absl_flags_marshalling",
        "parse": "absl_flags_parse",
        "reflection": "absl_flags_reflection",
        "usage": "absl_flags_usage",
    },
    "absl/functional": {
        "any_invocable": "absl_any_invocable",
        "bind_front": "absl_bind_front",
        "function_ref": "absl_function_ref",
    },
    "absl/hash": {"hash": "absl_hash"},
    "absl/memory": {"memory": "absl_memory"},
    "absl/numeric": {"bits": "absl_bits", "int128": "absl_int128"},
    "absl/random": {"random": "absl_random_random", "distributions": "absl_random_distributions"},
    "absl/status": {"status": "absl_status", "statusor": "absl_statusor"},
    "absl/strings": {"strings": "absl_strings", "str_format": "absl_str_format", "cord": "absl_cord"},
    "absl/synchronization": {"synchronization": "absl_synchronization"},
    "absl/time": {"time": "absl_time"},
    "absl/types": {"optional": "absl_optional", "span": "absl_span", "variant": "absl_variant"},
}

def _pkg_config_libs(ctx, module):
    result = ctx.execute(["pkg-config", "--libs", module])
    if result.return_code != 0:
        fail("pkg-config --libs %s failed (is libabsl-dev installed? run tools/bazel): %s" %
             (module, result.stderr))
    return result.stdout.strip().split(" ")

def _system_absl_impl(ctx):
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", "")
    for package, targets in _ABSL_TARGETS.items():
        lines = ["# Generated from pkg-config by //third_party:system_libs.bzl.", ""]
        for name, module in sorted(targets.items()):
            libs = [f for f in _pkg_config_libs(ctx, module) if f and not f.startswith("-L")]
            lines.append("cc_library(")
            lines.append("    name = %r," % name)
            lines.append("    linkopts = %r," % libs)
            lines.append("    visibility = [\"//visibility:public\"],")
            lines.append(")")
            lines.append("")
        ctx.file(package + "/BUILD", "\n".join(lines))

system_absl = repository_rule(
    implementation = _system_absl_impl,
    doc = "abseil (Debian libabsl-dev) under upstream labels, link lines from pkg-config.",
    local = True,
)
