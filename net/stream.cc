#include "net/stream.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace brisk::net {
namespace {

// One read buffer per thread, shared by every stream its loop drives: an
// idle connection holds no input buffer, and data that the callee consumes
// at once (the common case) is never copied.
char* ScratchBuffer(size_t size) {
  thread_local std::unique_ptr<char[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < size) {
    buffer.reset(new char[size]);
    capacity = size;
  }
  return buffer.get();
}

}  // namespace

TimePoint ReceiveTimeOnLoopClock(const timespec& stamp, const Clock& clock) {
  // The stamp is on CLOCK_REALTIME (the only clock the kernel stamps
  // received data with); its age is measured on that clock, then carried
  // over to the loop's. The two clocks cannot be read at one instant: the
  // realtime reading is bracketed by two loop-clock readings, and a thread
  // preempted inside the bracket (milliseconds on a busy machine) would
  // carry the preemption into the age and start every deadline early. So
  // the bracket is retried when wide, the tightest one kept, and the
  // realtime reading placed at its middle. A realtime step between the
  // stamp and now would distort the age: a backward one is clamped to
  // zero, a forward one to kMaxReceiveAge.
  constexpr Duration kTightBracket = std::chrono::microseconds(20);
  constexpr int kAttempts = 4;
  TimePoint best_before{};
  TimePoint best_after{};
  timespec best_real{};
  for (int i = 0; i < kAttempts; ++i) {
    const TimePoint before = clock.Now();
    timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    const TimePoint after = clock.Now();
    if (i == 0 || after - before < best_after - best_before) {
      best_before = before;
      best_after = after;
      best_real = real;
    }
    if (best_after - best_before <= kTightBracket) break;
  }
  const TimePoint loop_at_real = best_before + (best_after - best_before) / 2;
  const Duration age = std::chrono::seconds(best_real.tv_sec - stamp.tv_sec) +
                       std::chrono::nanoseconds(best_real.tv_nsec - stamp.tv_nsec);
  return loop_at_real - std::clamp<Duration>(age, Duration(0), kMaxReceiveAge);
}

namespace {

// The stream whose OnStreamData() runs on this thread, and the receive
// time of what it delivers (see internal::ReceiveTimeScope).
thread_local const void* delivering = nullptr;
thread_local TimePoint delivery_receive_time{};

}  // namespace

namespace internal {

ReceiveTimeScope::ReceiveTimeScope(const void* key, TimePoint received)
    : outer_key_(delivering), outer_time_(delivery_receive_time) {
  delivering = key;
  delivery_receive_time = received;
}

ReceiveTimeScope::~ReceiveTimeScope() {
  delivering = outer_key_;
  delivery_receive_time = outer_time_;
}

TimePoint DeliveryReceiveTime(const void* key) {
  return key != nullptr && delivering == key ? delivery_receive_time : TimePoint{};
}

bool TimestampFromControlMessage(const cmsghdr& c, timespec* stamp) {
  if (c.cmsg_level != SOL_SOCKET || c.cmsg_type != SCM_TIMESTAMPNS ||
      c.cmsg_len < CMSG_LEN(sizeof(timespec))) {
    return false;
  }
  std::memcpy(stamp, CMSG_DATA(&c), sizeof(*stamp));
  return true;
}

ssize_t ReceiveStamped(int fd, char* buf, size_t size, std::optional<timespec>* stamp) {
  iovec iov{buf, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n = ::recvmsg(fd, &msg, 0);
  if (n <= 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    timespec found;
    if (TimestampFromControlMessage(*c, &found)) *stamp = found;
  }
  return n;
}

}  // namespace internal

namespace {

// While a large answer trickles out, the sent prefix is dropped past this.
constexpr size_t kCompactOutputAfter = 256 * 1024;

class ReadinessStream final : public Stream {
 public:
  ReadinessStream(EventLoop* loop, UniqueFd fd, StreamCallbacks* callbacks,
                  const StreamOptions& options)
      : loop_(loop),
        callbacks_(callbacks),
        options_(options),
        fd_(std::move(fd)) {}

  ~ReadinessStream() override { Close(); }

  void Start() override {
    if (options_.read_on_start) {
      ReadSome();
      if (closed_) return;
    }
    interest_ = WantedInterest();
    if (loop_->Watch(fd_.get(), interest_,
                     [this](uint32_t events) { OnEvents(events); })
            .ok()) {
      watched_ = true;
    } else {
      // epoll_ctl's ENOMEM or ENOSPC (fs.epoll.max_user_watches): the
      // server's own shortage, not the peer's doing.
      Fail(ENOMEM);
    }
  }

  std::string& output() override { return out_; }

  bool Flush() override {
    if (closed_ || failed_) return false;
    if (!blocked_ && out_pos_ < out_.size()) {
      if (!SendSome()) return false;
      UpdateInterest();
    }
    return true;
  }

  size_t pending_output() const override { return out_.size() - out_pos_; }

  void SetReading(bool reading) override {
    if (reading_ == reading) return;
    reading_ = reading;
    UpdateInterest();
  }
  bool reading() const override { return reading_; }

  void ShutdownWrite() override {
    if (closed_) return;
    if (pending_output() > 0) {
      shutdown_after_send_ = true;  // after the queued bytes
      return;
    }
    ::shutdown(fd_.get(), SHUT_WR);
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    if (watched_) {
      loop_->Unwatch(fd_.get()).IgnoreError();
      watched_ = false;
    }
    fd_.reset();
    std::string().swap(out_);
    out_pos_ = 0;
  }
  TimePoint last_write_progress() const override { return write_progress_; }
  bool closed() const override { return closed_; }
  int fd() const override { return fd_.get(); }

 private:
  uint32_t WantedInterest() const {
    uint32_t want = 0;
    if (reading_ && !eof_) want |= kReadable;
    if (blocked_) want |= kWritable;
    // Past the end of input (the owner may still write its answers), or a
    // half-close seen while paused: level-triggered, it would fire on every
    // iteration. (A read finds the end once reading resumes: the socket
    // stays readable at EOF.)
    if ((eof_ || half_close_seen_) && want != 0) want |= kNoHalfClose;
    return want;
  }

  void UpdateInterest() {
    if (!watched_ || closed_) return;
    const uint32_t want = WantedInterest();
    if (want == interest_) return;
    interest_ = want;
    loop_->Modify(fd_.get(), want).IgnoreError();
  }

  void OnEvents(uint32_t events) {
    if (closed_ || failed_) return;
    if (events & kError) {
      // A reset: what the peer sent before it is still in the socket and
      // comes first, as on io_uring (a request, a TLS client's last
      // handshake flight); the read that empties it reports the error.
      if (reading_ && !eof_) {
        ReadSome();
        if (closed_ || failed_) return;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      Fail(err != 0 ? err : ECONNRESET);
      return;
    }
    if ((events & kWritable) && blocked_) {
      blocked_ = false;
      if (!SendSome()) {
        Fail(last_error_);
        return;
      }
      if (!blocked_) {
        UpdateInterest();
        callbacks_->OnStreamDrained();
        if (closed_) return;
      }
    }
    if (events & (kReadable | kHangup)) {
      if (reading_ && !eof_) {
        ReadSome();
      } else if ((events & kHangup) && !eof_ && !half_close_seen_) {
        if (PeerHungUp()) {
          // The connection is gone both ways while we were not reading:
          // level-triggered, it would be reported on every iteration, so
          // it is delivered as the end of input it is.
          eof_ = true;
          callbacks_->OnStreamEof();
        } else {
          // Only a half-close: the client sends no more, but what it sent
          // before is still in the socket, read (then the end) once reading
          // resumes. Not watched meanwhile (WantedInterest).
          half_close_seen_ = true;
        }
      }
      if (closed_) return;
    }
    UpdateInterest();
  }

  TimePoint receive_time() const override {
    return internal::DeliveryReceiveTime(this);
  }

  // Whether the connection hung up both ways (a reset, or both sides
  // shut), not just the peer's half-close: epoll reports both as kHangup.
  bool PeerHungUp() const {
    pollfd pfd{fd_.get(), POLLRDHUP, 0};
    return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)) != 0;
  }

  void ReadSome() {
    const size_t chunk = options_.read_chunk;
    for (int round = 0; round < options_.reads_per_event;) {
      if (!reading_ || eof_ || closed_ || failed_) return;
      char* buf = ScratchBuffer(chunk);
      TimePoint received{};
      const ssize_t n = options_.receive_timestamps
                            ? ReadTimestamped(buf, chunk, &received)
                            : ::read(fd_.get(), buf, chunk);
      if (n > 0) {
        Deliver(std::string_view(buf, static_cast<size_t>(n)), received);
        // A stream socket that filled less than the room had nothing more
        // at that moment: skip the read() that would only say EAGAIN (the
        // loop is level-triggered and reports later data again).
        if (static_cast<size_t>(n) < chunk) return;
        ++round;
        continue;
      }
      if (n == 0) {
        eof_ = true;
        callbacks_->OnStreamEof();
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail(errno);
      return;
    }
  }

  // Hands `data` to the callbacks with its receive time readable through
  // receive_time() meanwhile.
  void Deliver(std::string_view data, TimePoint received) {
    internal::ReceiveTimeScope scope(this, received);
    callbacks_->OnStreamData(data);
  }

  // read() through recvmsg(); the data's kernel receive time goes to
  // *received (left alone when the socket brings none).
  ssize_t ReadTimestamped(char* buf, size_t size, TimePoint* received) {
    std::optional<timespec> stamp;
    const ssize_t n = internal::ReceiveStamped(fd_.get(), buf, size, &stamp);
    if (n > 0 && stamp.has_value()) {
      *received = ReceiveTimeOnLoopClock(*stamp, loop_->clock());
    }
    return n;
  }

  // Sends until the queue is empty or the socket is full. False on error
  // (errno in last_error_).
  bool SendSome() {
    while (out_pos_ < out_.size()) {
      const ssize_t n = ::send(fd_.get(), out_.data() + out_pos_,
                               out_.size() - out_pos_, MSG_NOSIGNAL);
      if (n > 0) {
        out_pos_ += static_cast<size_t>(n);
        write_progress_ = loop_->Now();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        blocked_ = true;
        if (out_pos_ > kCompactOutputAfter && out_pos_ * 2 > out_.size()) {
          out_.erase(0, out_pos_);
          out_pos_ = 0;
        }
        return true;
      }
      last_error_ = n < 0 ? errno : EPIPE;
      failed_ = true;
      return false;
    }
    // Sent: the buffer goes back to the allocator (an idle connection holds
    // none; the next answer allocates a fresh one).
    std::string().swap(out_);
    out_pos_ = 0;
    if (shutdown_after_send_) {
      shutdown_after_send_ = false;
      ::shutdown(fd_.get(), SHUT_WR);
    }
    return true;
  }

  void Fail(int error) {
    failed_ = true;
    eof_ = true;
    UpdateInterest();
    callbacks_->OnStreamError(error);
  }

  // Ordered so that the small fields share words (every idle connection
  // has a stream).
  EventLoop* const loop_;
  StreamCallbacks* const callbacks_;
  const StreamOptions options_;

  std::string out_;
  size_t out_pos_ = 0;
  TimePoint write_progress_{};  // last_write_progress()
  UniqueFd fd_;
  uint32_t interest_ = 0;
  int last_error_ = 0;
  bool watched_ = false;
  bool reading_ = true;
  bool blocked_ = false;  // the kernel refused bytes: wait for kWritable
  bool eof_ = false;
  bool half_close_seen_ = false;  // while paused; the end is read later
  bool failed_ = false;
  bool closed_ = false;
  bool shutdown_after_send_ = false;
};

}  // namespace

std::unique_ptr<Stream> CreateReadinessStream(EventLoop* loop, UniqueFd fd,
                                              StreamCallbacks* callbacks,
                                              const StreamOptions& options) {
  return std::make_unique<ReadinessStream>(loop, std::move(fd), callbacks,
                                           options);
}

std::unique_ptr<Stream> EventLoop::CreateStream(UniqueFd fd,
                                                StreamCallbacks* callbacks,
                                                const StreamOptions& options) {
  return CreateReadinessStream(this, std::move(fd), callbacks, options);
}

bool Stream::HasUnreadInput() const { return internal::SocketHasUnreadBytes(fd()); }

bool internal::SocketHasUnreadBytes(int fd) {
  int unread = 0;
  return fd >= 0 && ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
}

absl::Status EventLoop::StartAccept(int, AcceptCallback) {
  return absl::UnimplementedError("this loop accepts by readiness (Watch)");
}

void EventLoop::StopAccept(int, AcceptCallback late) {
  // Nothing accepts here, so nothing comes late: only the end.
  if (late) Post([late = std::move(late)]() mutable { late(-1, 0); });
}

}  // namespace brisk::net
