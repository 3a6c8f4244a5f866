"""Build macros shared by every brisk package."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")
load("//bazel:copts.bzl", "BRISK_BENCHMARK_COPTS", "BRISK_TEST_COPTS")

def brisk_cc_benchmark(name, srcs, deps = [], smoke_args = [], data = [], **kwargs):
    """A Google Benchmark binary `name` plus `name_test`, a short smoke run.

    `bazel run -c opt //pkg:foo_benchmark` gives real figures; the `_test`
    target runs every benchmark for a token time under `bazel test` so the
    benchmark never rots (Envoy's *_benchmark_test convention). The source
    is compiled once, into `name_lib`, which both link. Other arguments
    (testonly, local_defines) go to the library.
    """
    native.cc_library(
        name = name + "_lib",
        srcs = srcs,
        copts = BRISK_BENCHMARK_COPTS,
        deps = deps + ["@com_github_google_benchmark//:benchmark"],
        alwayslink = True,
        visibility = ["//visibility:private"],
        **kwargs
    )
    testonly = kwargs.get("testonly", False)
    cc_binary(
        name = name,
        deps = [":" + name + "_lib"],
        data = data,
        testonly = testonly,
    )
    cc_test(
        name = name + "_test",
        deps = [":" + name + "_lib"],
        data = data,
        args = ["--benchmark_min_time=0.0005"] + smoke_args,
        tags = ["benchmark"],
        size = "medium",
    )

def brisk_cc_fuzzer(name, srcs, deps = [], corpus_test_deps = [], **kwargs):
    """A libFuzzer target `name` (build with --config=fuzz) plus `name_corpus_test`.

    The fuzzer binary is tagged "fuzzer" and "manual": .ci/run builds it with
    --config=fuzz and runs it for a fixed time, seeded from
    testdata/<name>_corpus. The `_corpus_test` replays every corpus file
    through the same LLVMFuzzerTestOneInput in an ordinary test (any config).
    Other arguments (e.g. testonly) go to both targets.
    """
    cc_binary(
        name = name,
        srcs = srcs,
        copts = BRISK_TEST_COPTS,
        deps = deps,
        tags = ["fuzzer", "manual"],
        **kwargs
    )
    native.filegroup(
        name = name + "_corpus",
        srcs = native.glob(["testdata/" + name + "_corpus/**"]),
    )
    cc_test(
        name = name + "_corpus_test",
        srcs = srcs + ["//bazel:fuzzer_corpus_main.cc"],
        copts = BRISK_TEST_COPTS,
        deps = deps,
        data = [":" + name + "_corpus"],
        # The files by their runfiles paths (not the directory's path in
        # the workspace): right also when brisk is another workspace's
        # dependency.
        args = ["$(rootpaths :" + name + "_corpus)"],
        **kwargs
    )

def brisk_layering_sources():
    """Exports every C++ source of the package to //bazel:layering_test."""
    native.filegroup(
        name = "sources",
        srcs = native.glob(["**/*.h", "**/*.cc"]),
        visibility = ["//bazel:__pkg__"],
    )

def brisk_cc_test_per_io(
        name,
        srcs,
        deps = [],
        copts = [],
        local_defines = [],
        **kwargs):
    """A cc_test `name` (the server on epoll) plus `name_io_uring`.

    The second runs the same binary with BRISK_TEST_IO=io_uring in its
    environment; fixtures pass brisk::testing::TestIoBackend() as
    ServerOptions::io, so one test file covers both event loops. The test
    source is compiled once, into `name_lib`, which both tests link: a twin
    costs a link, not a second compile of the file in every configuration.
    The other arguments (size, data, env, tags, ...) go to both tests.
    """
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = copts,
        local_defines = local_defines,
        deps = deps,
        alwayslink = True,
        visibility = ["//visibility:private"],
    )
    cc_test(name = name, deps = [":" + name + "_lib"], **kwargs)
    env = dict(kwargs.pop("env", {}))
    env["BRISK_TEST_IO"] = "io_uring"
    cc_test(name = name + "_io_uring", env = env, deps = [":" + name + "_lib"], **kwargs)
