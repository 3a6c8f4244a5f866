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

BRISK_TEST_COPTS = BRISK_COPTS + ["-Wno-sign-compare"]
