"""Compiler flags for brisk's own code, in one place.

-Werror applies to our code only; dependencies come prebuilt from Debian.
"""

BRISK_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    # clang's toolchain turns on -Wthread-safety, whose analysis needs
    # annotated mutex types; libstdc++'s std::mutex is not, so every
    # ABSL_GUARDED_BY on a std::mutex fails to compile with clang (a team
    # building brisk with clang hit it). The annotations document which
    # mutex guards what; gcc ignores them, and this flag.
    "-Wno-thread-safety",
]

# Test code (tests, their helpers, fuzz-corpus replays) is compiled for
# compile time: test sources are most of the build (about three quarters of
# a sanitizer pass's compile time), the code they test is not theirs.
#  - Under the sanitizers, -O0: ~3x faster to compile than the pass's -O1
#    (server/http_server_test.cc under ASan+UBSan: 17 s instead of 58 s),
#    and instrumented the same.
#  - In the optimized build, -Og: ~2x faster than -O2 (23 s -> 12 s).
# brisk's libraries (BRISK_COPTS), the code under test, keep the build's
# level. Benchmarks (BRISK_BENCHMARK_COPTS) keep it too outside the
# sanitizers: the optimized build is where they give their figures. The
# fuzz build (libFuzzer's speed) is unchanged.
_SANITIZER_TEST_OPT = select({
    "//bazel:asan": ["-O0"],
    "//bazel:tsan": ["-O0"],
    "//bazel:ubsan": ["-O0"],
    "//conditions:default": [],
})

_TEST_OPT = select({
    "//bazel:asan": ["-O0"],
    "//bazel:tsan": ["-O0"],
    "//bazel:ubsan": ["-O0"],
    "//bazel:fuzz": [],
    "//conditions:default": ["-Og"],
})

BRISK_TEST_COPTS = BRISK_COPTS + ["-Wno-sign-compare"] + _TEST_OPT

BRISK_BENCHMARK_COPTS = BRISK_COPTS + ["-Wno-sign-compare"] + _SANITIZER_TEST_OPT
