"""Who may depend on each component (the layering, enforced by Bazel).

The components are reusable from other targets, but only along the arrows
of ../shared/design/architecture.md: server/ uses net/, http/ and
concurrency/; tools/ uses net/ and http/. The HTTP value types that appear
in the public handler API (Request, Response, URL helpers) are public.
Test-only and benchmark targets stay private to their package.
"""

NET_USERS = [
    "//net:__subpackages__",
    "//server:__subpackages__",
    "//tools:__subpackages__",
]

HTTP_USERS = [
    "//http:__subpackages__",
    "//server:__subpackages__",
    "//tools:__subpackages__",
]

CONCURRENCY_USERS = [
    "//concurrency:__subpackages__",
    "//server:__subpackages__",
]
