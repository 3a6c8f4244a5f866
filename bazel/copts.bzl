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
]

BRISK_TEST_COPTS = BRISK_COPTS + ["-Wno-sign-compare"]
