// Test support: which event loop the server under test runs on. Test targets
// made with brisk_cc_test_per_io (//bazel:defs.bzl) run once as they are and
// once with BRISK_TEST_IO=io_uring; fixtures set
//
//   options.io = brisk::testing::TestIoBackend();
//
// Thread-safety: reads the environment; call from the test thread.
#ifndef BRISK_SERVER_TESTING_TEST_IO_H_
#define BRISK_SERVER_TESTING_TEST_IO_H_

#include <cstdlib>
#include <string_view>

#include "server/http_server.h"

namespace brisk::testing {

inline IoBackend TestIoBackend() {
  const char* io = std::getenv("BRISK_TEST_IO");
  return io != nullptr && std::string_view(io) == "io_uring" ? IoBackend::kIoUring
                                                             : IoBackend::kEpoll;
}

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_TEST_IO_H_
