#include "net/testing/loop_factory.h"

#include "net/io_uring_loop.h"

namespace brisk::net {

std::vector<LoopKind> AllLoopKinds() {
  return {LoopKind::kEpoll, LoopKind::kIoUring};
}

std::string LoopKindName(LoopKind kind) {
  return kind == LoopKind::kEpoll ? "epoll" : "io_uring";
}

absl::StatusOr<std::unique_ptr<EventLoop>> CreateLoop(LoopKind kind,
                                                      EventLoopOptions options) {
  return kind == LoopKind::kEpoll ? CreateEpollLoop(options)
                                  : CreateIoUringLoop(options);
}

}  // namespace brisk::net
