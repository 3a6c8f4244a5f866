// The io_uring EventLoop: the same interface as CreateEpollLoop(), driven by
// one io_uring instance per loop, with a native Stream and multishot accept.
//
//   absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateIoUringLoop();
//   if (!loop.ok()) { /* kernel too old, io_uring disabled: use epoll */ }
//   auto stream = (*loop)->CreateStream(std::move(fd), &callbacks, {});
//   stream->Start();
//   (*loop)->Run();
//
// One iteration is one io_uring_enter: it submits everything queued since
// the last one (sends, receive re-arms, polls, cancellations) and waits for
// completions, bounded by the earliest timer (the wait's timeout argument),
// then dispatches the completions, the due timers and the posted tasks.
// Other threads wake it with an eventfd whose read is always pending in the
// ring, so a Post() costs the poster one write(2) and the loop nothing.
//
// - Streams (CreateStream): a multishot receive per connection into a ring
//   of provided buffers shared by the loop (an idle connection holds no
//   receive buffer; a buffer goes back to the ring as soon as the data
//   callback returns), sends queued as they are flushed and submitted with
//   the next io_uring_enter (the output is double-buffered so appending
//   never moves bytes a send in flight points to). Flush() therefore always
//   leaves the bytes pending until the next iteration, and OnStreamDrained()
//   follows every Flush().
// - Watch(): level-triggered like epoll, emulated with a one-shot poll that
//   is re-armed after each callback (so an fd still ready is reported again
//   on the next iteration).
// - StartAccept(): multishot accept (the Acceptor uses it).
//
// Lifetime: every submission's user_data points to a control block owned by
// the loop, which outlives the Stream (or registration) it serves until the
// last completion of its operations has arrived; a socket is closed only
// then, so a queued submission can never reach a reused fd number, and no
// completion ever reaches a destroyed Stream.
//
// Threading: as EventLoop (loop thread only, except Post, Stop, stats, Now).
// Needs Linux 6.0+ (multishot receive; provided buffer rings): Create fails
// with FailedPrecondition naming what is missing.
#ifndef BRISK_NET_IO_URING_LOOP_H_
#define BRISK_NET_IO_URING_LOOP_H_

#include <memory>

#include "absl/status/statusor.h"
#include "net/event_loop.h"

namespace brisk::net {

absl::StatusOr<std::unique_ptr<EventLoop>> CreateIoUringLoop(
    EventLoopOptions options = {});

}  // namespace brisk::net

#endif  // BRISK_NET_IO_URING_LOOP_H_
