// Signals reach every server of the process: each HttpServer with
// handle_signals (the default) promises that SIGTERM shuts it down, but the
// kernel gives a process signal to one signalfd only. A real SIGTERM is
// sent to this test process, so this test has a binary of its own (its
// servers block the signal in the main thread before any thread exists).
#include <signal.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "server/http_server.h"
#include "server/testing/gate.h"

namespace brisk {
namespace {

using ::brisk::testing::Eventually;

TEST(ServerSignalsTest, OneSigtermShutsDownEveryServerOfTheProcess) {
  const ServerOptions options{.address = "127.0.0.1", .port = 0};
  HttpServer a(options);
  HttpServer b(options);
  HttpServer quiet(ServerOptions{.address = "127.0.0.1", .port = 0,
                                 .handle_signals = false});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(quiet.Start().ok());
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  EXPECT_TRUE(Eventually([&] { return !a.ready(); }));
  EXPECT_TRUE(Eventually([&] { return !b.ready(); }));
  // The one that owns no signals is left alone.
  EXPECT_TRUE(quiet.ready());
  a.Stop();
  b.Stop();
  quiet.Stop();
}

}  // namespace
}  // namespace brisk
