// Stream: a connected socket on an EventLoop, seen as a byte stream with
// completion-style callbacks. It is the seam between the transport (epoll
// readiness today, io_uring completions, TLS on top of either) and the code
// that speaks a protocol over it, which then does not care how its bytes
// travel.
//
//   class Echo : public StreamCallbacks {
//    public:
//     void OnStreamData(std::string_view data) override {
//       stream_->output().append(data);           // queue bytes...
//       if (!stream_->Flush()) stream_->Close();  // ...and start sending
//     }
//     void OnStreamEof() override { stream_->Close(); }
//     void OnStreamDrained() override {}
//     void OnStreamError(int error) override { stream_->Close(); }
//     std::unique_ptr<Stream> stream_;
//   };
//   echo.stream_ = loop->CreateStream(std::move(fd), &echo, {});
//   echo.stream_->Start();
//
// Input: every byte received is handed to OnStreamData() exactly once, in
// order; the view is valid only during the call (it may point into a buffer
// shared by every stream of the loop), so a callee that cannot use all of it
// keeps a copy of the rest. SetReading(false) stops delivery (backpressure:
// the kernel's receive buffer then fills and TCP pushes back on the client).
//
// Output: append to output() and call Flush(). Bytes are sent in order;
// whatever the kernel does not take at once stays queued and goes out when
// the socket becomes writable. pending_output() counts the bytes queued and
// not yet handed to the kernel; when it drops to zero after a Flush() left
// some pending, OnStreamDrained() is called.
//
// End: OnStreamEof() when the peer closed its sending side (read returned 0),
// or hung up both ways while reading was paused. A half-close seen while
// paused is not the end yet: what the peer sent before it is delivered once
// reading resumes, then OnStreamEof() (the owner may answer all of it); it
// is not watched meanwhile, so a paused stream waiting to write is not woken
// by it again and again. OnStreamError() when the connection
// broke (reset, ...), after what the peer sent before a reset was delivered
// (while reading). After either, no more data arrives; the owner decides
// when to Close(). OnStreamError() comes at most once, and may follow
// OnStreamEof(): a send the kernel refuses after the peer's FIN (a peer
// that closed, not half-closed) means the output will never drain.
//
// Threading and re-entrancy: loop thread only. Callbacks never run nested
// inside a call the owner makes (Flush, SetReading, ShutdownWrite, Close),
// except Start(), which may read at once and deliver what is already there
// (see StreamOptions::read_on_start). Inside a callback the owner may call
// any method, including Close(), but must not destroy the Stream; destroy it
// later (e.g. from a posted task). After Close() no callback runs.
//
// Ownership: the Stream owns the socket and closes it on Close() or
// destruction; the callbacks object is not owned and must outlive it.
#ifndef BRISK_NET_STREAM_H_
#define BRISK_NET_STREAM_H_

#include <errno.h>
#include <sys/socket.h>
#include <time.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "net/event_loop.h"
#include "net/socket.h"

namespace brisk::net {

// The error a Stream that wraps another (ProxyProtocolStream) gives its
// owner when it refused the connection itself, before any byte reached the
// owner; it has counted and said why. An owner that counts failures of its
// own protocol (TLS handshakes) does not count this one.
inline constexpr int kTransportRefused = EPROTO;

class StreamCallbacks {
 public:
  // Bytes received; valid during the call only.
  virtual void OnStreamData(std::string_view data) = 0;
  // The peer will send nothing more.
  virtual void OnStreamEof() = 0;
  // pending_output() reached zero after a Flush() that left bytes queued.
  virtual void OnStreamDrained() = 0;
  // The connection is broken (errno value); nothing more can be sent.
  virtual void OnStreamError(int error) = 0;
  // Input was read and taken by a layer in between with nothing for the
  // owner (a PROXY header, a TLS handshake message): HasUnreadInput() may
  // have turned false. An owner that waits for unread input before closing
  // (a drain) looks again; with no such call it waited for its next timer.
  virtual void OnStreamInputTaken() {}

 protected:
  ~StreamCallbacks() = default;
};

struct StreamOptions {
  // Bytes read per read() call, and read() calls per readiness event before
  // yielding to other sockets (fairness).
  size_t read_chunk = 64 * 1024;
  int reads_per_event = 4;
  // Start() tries one read at once before waiting for readiness: with
  // TCP_DEFER_ACCEPT on the listener, a new connection's request is usually
  // already there, and a short exchange (request, answer, close) may finish
  // without the socket ever being registered with the poller.
  bool read_on_start = false;
  // Reads with recvmsg() and takes the kernel's receive timestamp of the
  // data (SO_TIMESTAMPNS, see EnableReceiveTimestamps() in socket.h; a
  // socket without it simply brings none): receive_time() then says when
  // the bytes being delivered reached the machine, which may be well before
  // the loop got to them when it is busy.
  bool receive_timestamps = false;
};

class Stream {
 public:
  virtual ~Stream() = default;

  // Starts delivering events. Call once, after the callbacks are ready.
  virtual void Start() = 0;

  // The output queue: append bytes, then Flush().
  virtual std::string& output() = 0;
  // Starts sending what is queued. False if the connection is broken (the
  // owner should Close()); true otherwise, even if bytes remain queued.
  virtual bool Flush() = 0;
  // Bytes queued and not yet handed to the kernel.
  virtual size_t pending_output() const = 0;

  // Pauses or resumes input delivery.
  virtual void SetReading(bool reading) = 0;
  virtual bool reading() const = 0;
  // Sends FIN after the queued output (TCP half-close). Input still arrives.
  virtual void ShutdownWrite() = 0;
  // Closes the socket without waiting: output already Flush()ed goes as far
  // as the kernel takes it at once (in order, after a send still in flight),
  // the rest is dropped. No callback runs after it. Idempotent.
  virtual void Close() = 0;
  // The owner cut short what it was sending (an answer whose end the peer
  // may only learn from the close): from now on a transport with an
  // end-of-data signal of its own leaves it out of ShutdownWrite() and
  // Close(), so the peer sees a truncation, not an end (TLS: no
  // close_notify). Nothing to do for TCP, whose FIN is all it has.
  virtual void MarkTruncated() {}
  virtual bool closed() const = 0;
  // The socket (-1 once closed), for getsockopt and the like.
  virtual int fd() const = 0;
  // Whether the kernel holds bytes received on fd() that were not read yet
  // (FIONREAD). An owner about to close a connection it deems idle (a
  // drain) lets them be delivered and answered first: a close with unread
  // bytes sends a reset and loses a request that had already arrived; one
  // closing after its last answer half-closes and lingers instead.
  virtual bool HasUnreadInput() const;
  // Whether this stream took bytes from the connection that it holds back
  // from its owner (a PROXY protocol header begun) and accounts for if
  // closed with them. Part of HasUnreadInput(); bytes still in the kernel
  // are not: an owner closing on those counts the close itself.
  virtual bool HoldsInputBack() const { return false; }

  // During OnStreamData(): when the kernel received the bytes being
  // delivered, on the loop's clock, never later than the loop's
  // clock().Now() at the read. TimePoint{} outside a delivery, and when not
  // known: the option is off, the socket has no timestamps, or the
  // transport cannot tell (bytes the io_uring stream kept during a pause).
  virtual TimePoint receive_time() const { return TimePoint{}; }

  // When the kernel last took output bytes from this stream (the loop's
  // Now() of that iteration; TimePoint{} if never or unknown): lets an
  // owner time a write stall from the last progress, not from when it
  // looked (the io_uring stream learns of a partial send only when it
  // completes, an iteration after the bytes were queued).
  virtual TimePoint last_write_progress() const { return TimePoint{}; }
};

// The kernel receive timestamp `stamp` (CLOCK_REALTIME) on `clock`, the
// loop's: clock's now minus the stamp's age, the age kept within
// [0, kMaxReceiveAge]. The realtime and loop clocks are read close
// together (retried when the thread was preempted between the readings),
// so a preemption does not make the data look older than it is. Never
// later than clock.Now() after the call. For transports that read
// timestamps themselves.
inline constexpr Duration kMaxReceiveAge = std::chrono::seconds(60);
TimePoint ReceiveTimeOnLoopClock(const timespec& stamp, const Clock& clock);

namespace internal {

// For Stream implementations: while a ReceiveTimeScope lives on this
// thread (around one OnStreamData() call), DeliveryReceiveTime(key) is
// `received`; TimePoint{} for any other key. Nests (a callback may start
// another stream that delivers at once). The time lives here, not in each
// stream: an idle connection should hold as little as possible.
class ReceiveTimeScope {
 public:
  ReceiveTimeScope(const void* key, TimePoint received);
  ~ReceiveTimeScope();
  ReceiveTimeScope(const ReceiveTimeScope&) = delete;
  ReceiveTimeScope& operator=(const ReceiveTimeScope&) = delete;

 private:
  const void* const outer_key_;
  const TimePoint outer_time_;
};
TimePoint DeliveryReceiveTime(const void* key);

// The SCM_TIMESTAMPNS stamp in one control message, if it is one.
bool TimestampFromControlMessage(const cmsghdr& c, timespec* stamp);

// recvmsg() of up to `size` bytes into `buf` on `fd`, with room for the
// kernel's receive timestamp: *stamp is set when the bytes carry one (the
// socket has SO_TIMESTAMPNS) and left alone otherwise. Returns what
// recvmsg() returns (errno set on -1).
ssize_t ReceiveStamped(int fd, char* buf, size_t size, std::optional<timespec>* stamp);

// Whether the kernel holds received bytes not read yet on socket `fd`
// (FIONREAD; false for -1 or on error). For Stream::HasUnreadInput().
bool SocketHasUnreadBytes(int fd);

}  // namespace internal

// A Stream driven by readiness: Watch() on `loop` plus read()/send(). Works
// on any EventLoop implementation; EventLoop::CreateStream() returns one
// unless the loop has a native (completion-based) stream.
std::unique_ptr<Stream> CreateReadinessStream(EventLoop* loop, UniqueFd fd,
                                              StreamCallbacks* callbacks,
                                              const StreamOptions& options);

}  // namespace brisk::net

#endif  // BRISK_NET_STREAM_H_
