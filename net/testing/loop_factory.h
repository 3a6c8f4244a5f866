// Test support: create an EventLoop by kind, so a test suite runs the same
// cases against every implementation (gtest value-parameterised tests).
//
//   class MyTest : public ::testing::TestWithParam<LoopKind> {};
//   TEST_P(MyTest, Works) { auto loop = CreateLoopOrDie(GetParam()); ... }
//   INSTANTIATE_TEST_SUITE_P(Loops, MyTest, ::testing::ValuesIn(AllLoopKinds()),
//                            LoopKindParamName);
//
// Thread-safety: plain functions, no state.
#ifndef BRISK_NET_TESTING_LOOP_FACTORY_H_
#define BRISK_NET_TESTING_LOOP_FACTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/event_loop.h"

namespace brisk::net {

enum class LoopKind { kEpoll, kIoUring };

// Every implementation: epoll, io_uring.
std::vector<LoopKind> AllLoopKinds();
// "epoll" / "io_uring".
std::string LoopKindName(LoopKind kind);

absl::StatusOr<std::unique_ptr<EventLoop>> CreateLoop(
    LoopKind kind, EventLoopOptions options = {});

// For INSTANTIATE_TEST_SUITE_P: the test name suffix.
template <typename ParamInfo>
std::string LoopKindParamName(const ParamInfo& info) {
  return LoopKindName(info.param);
}

}  // namespace brisk::net

#endif  // BRISK_NET_TESTING_LOOP_FACTORY_H_
