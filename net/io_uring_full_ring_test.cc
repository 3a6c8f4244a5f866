// The io_uring loop when its submission ring is full and the kernel takes
// none of it (io_uring_enter's EAGAIN, ENOMEM or EBUSY: short of memory, a
// completion backlog). The loop used to submit again and again until an
// entry came free, inside the callback that wanted it: while the kernel
// refused, forever. Now the entries wait in the loop and go with the next
// iteration, in order, a linked chain (cancellations and a close) whole.
//
// Its own binary: it replaces liburing's io_uring_submit (the loop calls it
// only to make room in a full ring; its iterations submit with
// io_uring_submit_and_wait_timeout) with one a test can make refuse.
#include <dlfcn.h>
#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "net/event_loop.h"
#include "net/io_uring_loop.h"
#include "net/stream.h"
#include "net/testing/socket_pair.h"

namespace {

// While set, io_uring_submit takes nothing and fails with EAGAIN (loop
// thread only: the loop is run by the test's thread).
bool refusing = false;
int refused = 0;
// Then a loop that submits again and again gets through, so that the test
// ends and reports it.
constexpr int kRefusalsAtMost = 100;

}  // namespace

extern "C" int io_uring_submit(struct io_uring* ring) {
  using Submit = int (*)(struct io_uring*);
  static const auto real = reinterpret_cast<Submit>(dlsym(RTLD_NEXT, "io_uring_submit"));
  if (refusing && refused < kRefusalsAtMost) {
    ++refused;
    return -EAGAIN;
  }
  return real(ring);
}

namespace brisk::net {
namespace {

constexpr Duration kPoll{0};
constexpr unsigned kRingEntries = 4;

std::unique_ptr<EventLoop> SmallRingLoop() {
  EventLoopOptions options;
  options.ring_entries = kRingEntries;
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateIoUringLoop(options);
  EXPECT_TRUE(loop.ok()) << loop.status();
  return loop.ok() ? *std::move(loop) : nullptr;
}

// Runs `task` on `loop`'s thread with the kernel refusing submissions.
void RunRefused(EventLoop* loop, std::function<void()> task) {
  loop->Post([task = std::move(task)] {
    refusing = true;
    task();
    refusing = false;
  });
  loop->RunOnce(kPoll);
}

TEST(IoUringFullRingTest, EntriesTheKernelRefusesGoWithTheNextIteration) {
  std::unique_ptr<EventLoop> loop = SmallRingLoop();
  ASSERT_NE(loop, nullptr);
  loop->RunOnce(kPoll);
  // Twice the ring's worth of polls on readable descriptors, armed inside
  // one callback: the first half fills the ring.
  std::vector<SocketPair> pairs(2 * kRingEntries);
  std::vector<int> reported(pairs.size(), 0);
  for (SocketPair& p : pairs) ASSERT_EQ(write(p.b.get(), "x", 1), 1);
  refused = 0;
  RunRefused(loop.get(), [&] {
    for (size_t i = 0; i < pairs.size(); ++i) {
      ASSERT_TRUE(
          loop->Watch(pairs[i].a.get(), kReadable, [&reported, i](uint32_t) { ++reported[i]; })
              .ok());
    }
  });
  // One refusal, then the entries were held back: not submitted again and
  // again inside the callback.
  EXPECT_EQ(refused, 1);
  for (int i = 0; i < 10; ++i) loop->RunOnce(kPoll);
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_GT(reported[i], 0) << "the poll on pair " << i << " never reported";
  }
  for (SocketPair& p : pairs) ASSERT_TRUE(loop->Unwatch(p.a.get()).ok());
}

// Closing a stream with a receive armed is a linked chain: the receive's
// cancellation, then the close (the socket must not close under a queued
// submission that names it). Held back, it goes whole once the kernel
// takes submissions again, and every socket closes.
TEST(IoUringFullRingTest, StreamsClosedWhileTheKernelRefusesAreClosedOnceItTakesThem) {
  struct Ignore : StreamCallbacks {
    void OnStreamData(std::string_view) override {}
    void OnStreamEof() override {}
    void OnStreamDrained() override {}
    void OnStreamError(int) override {}
  } ignore;
  std::unique_ptr<EventLoop> loop = SmallRingLoop();
  ASSERT_NE(loop, nullptr);
  std::vector<SocketPair> pairs(2 * kRingEntries);
  std::vector<std::unique_ptr<Stream>> streams;
  for (SocketPair& p : pairs) {
    streams.push_back(loop->CreateStream(std::move(p.a), &ignore, {}));
    streams.back()->Start();
    loop->RunOnce(kPoll);  // its receive is armed
  }
  refused = 0;
  RunRefused(loop.get(), [&] {
    for (auto& s : streams) s->Close();
  });
  EXPECT_EQ(refused, 1);
  for (int i = 0; i < 10; ++i) loop->RunOnce(kPoll);
  for (size_t i = 0; i < pairs.size(); ++i) {
    char c;
    EXPECT_EQ(read(pairs[i].b.get(), &c, 1), 0) << "stream " << i << " was not closed";
  }
}

}  // namespace
}  // namespace brisk::net
