#include "net/io_uring_loop.h"

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "net/lazy_bytes.h"
#include "net/loop_base.h"
#include "net/socket.h"
#include "net/stream.h"

namespace brisk::net {
namespace {

using internal::ErrnoStatus;

// user_data = control block address | tag (blocks are 8-aligned).
enum Tag : uint64_t {
  kTagIgnore = 0,   // cancellations: no control block
  kTagWake = 1,     // the eventfd read: no control block
  kTagPoll = 2,     // Watch()
  kTagRecv = 3,     // stream: multishot receive
  kTagSend = 4,     // stream: send
  kTagHup = 5,      // stream: hang-up poll while no receive is armed
  kTagAccept = 6,   // multishot accept
  kTagPollAlt = 7,  // Watch(): the poll armed after a Modify (see WatchCore)
};
constexpr uint64_t kTagMask = 7;
constexpr uint16_t kBufferGroup = 0;
// The most a stream hands over at once of what it kept during a pause: as
// much as the readiness stream reads at once by default (its
// StreamOptions::read_chunk; the option does not apply here).
constexpr size_t kStashPiece = 64 * 1024;

class UringLoop;

// The part of a registration or stream that the kernel may still complete
// operations for. Owned by the loop; deleted once its owner let go of it
// (orphaned) and no operation is in flight.
class Core {
 public:
  explicit Core(UringLoop* loop) : loop_(loop) {}
  virtual ~Core() = default;
  // A completion for this block (never called once orphaned).
  virtual void OnCqe(uint64_t tag, int res, uint32_t flags) = 0;
  // A completion arriving after the owner let go: release what it carries
  // (a buffer, an accepted fd). True if it was an event (for stale_events).
  virtual bool OnOrphanCqe(uint64_t tag, int res, uint32_t flags) = 0;
  // Deferred work queued with UringLoop::Defer().
  virtual void RunDeferred() {}
  // Queued with UringLoop::BeforeSubmit(): prepare submissions now.
  virtual void PrepareSubmit() {}

  UringLoop* const loop_;
  int inflight_ = 0;       // operations submitted or queued, not finished
  bool orphaned_ = false;  // the owner is gone
  bool busy_ = false;      // inside OnCqe/RunDeferred: not deleted now
};

using internal::InterestToPollMask;
using internal::PollMaskToEvents;

// io_uring_enter errors that pass: the next iteration submits again.
// ENOMEM/EAGAIN: the kernel short of memory for the submission; EBUSY:
// a completion backlog; EINTR: a signal while waiting.
bool TransientEnterError(int ret) {
  return ret == -EINTR || ret == -EAGAIN || ret == -EBUSY || ret == -ENOMEM;
}

// Any other: EBADR, the kernel dropped completions under memory pressure;
// which ones is unknown (connections would hang for good), so the process
// exits for its supervisor to restart it. EBADF/EFAULT/EINVAL/ENXIO...: a
// broken invariant of ours.
[[noreturn]] void DieOfEnterError(int ret) {
  std::fprintf(stderr, "brisk::net: io_uring_enter: %s%s\n", std::strerror(-ret),
               ret == -EBADR ? " (completions lost under memory pressure): exiting" : "");
  std::abort();
}

class UringLoop final : public internal::LoopBase {
 public:
  UringLoop(const Clock* clock, const EventLoopOptions& options)
      : LoopBase(clock),
        batch_(static_cast<size_t>(options.max_events)),
        buffer_count_(options.recv_buffers),
        buffer_size_(options.recv_buffer_size) {}

  ~UringLoop() override;

  absl::Status Init(const EventLoopOptions& options);

  // ------------------------------------------------------------ EventLoop
  absl::Status Watch(int fd, uint32_t interest, IoCallback cb) override;
  absl::Status Modify(int fd, uint32_t interest) override;
  absl::Status Unwatch(int fd) override;
  int RunOnce(Duration max_wait) override;
  std::unique_ptr<Stream> CreateStream(UniqueFd fd, StreamCallbacks* callbacks,
                                       const StreamOptions& options) override;
  absl::Status StartAccept(int listen_fd, AcceptCallback cb) override;
  void StopAccept(int listen_fd, AcceptCallback late) override;
  // The destructor runs: orphaned completions get no callbacks.
  bool destroying() const { return destroying_; }

  // ------------------------------------------------- for the control blocks
  // A free submission entry, after every one taken before it. When the ring
  // is full, what it holds is submitted first. If the kernel takes none of
  // it (io_uring_enter short of memory: EAGAIN, ENOMEM, EBUSY), the entry
  // is one held back here instead, moved into the ring by the next
  // iteration before it submits, as RunOnce retries a failed
  // io_uring_enter: the caller runs inside a callback and cannot wait.
  // (Submitting again until an entry came free could spin for good.)
  io_uring_sqe* Sqe() {
    if (held_.empty()) [[likely]] {
      if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) [[likely]] {
        return sqe;
      }
    }
    return SqeWhenFull();
  }
  // Sqe() past a full ring or entries held back: out of line, so the
  // common path stays small enough to inline (it measured ~7% more CPU per
  // request on pipelined io_uring traffic when this was inline).
  [[gnu::noinline]] io_uring_sqe* SqeWhenFull() {
    if (held_.empty() && SubmitForRoom(1)) return io_uring_get_sqe(&ring_);
    return &held_.emplace_back();
  }
  // Tags `sqe` as an operation of `core` (counted in flight).
  void Arm(Core* core, Tag tag, io_uring_sqe* sqe) {
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(core) | tag);
    ++core->inflight_;
  }
  // Cancels the operation of `core` with `tag` (no completion on success).
  void CancelOp(Core* core, Tag tag) {
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(core) | tag, 0);
    io_uring_sqe_set_data64(sqe, kTagIgnore);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  }
  // Cancels the operations of `core` with `tags` (those still in flight),
  // then closes `fd`: hard-linked, so the close runs after the
  // cancellations whatever they found. By user_data, not by fd: a
  // cancellation keyed by fd scans every bucket of the kernel's cancel
  // table (measured: ~3 us per connection), one keyed by user_data is a
  // hash lookup. The chain goes to the kernel in one submission (a link
  // ends with it): in the ring, or held back whole.
  void CancelAndClose(Core* core, const Tag* tags, size_t count, int fd) {
    const bool in_ring =
        held_.empty() && (io_uring_sq_space_left(&ring_) >= count + 1 || SubmitForRoom(count + 1));
    auto next = [&] { return in_ring ? io_uring_get_sqe(&ring_) : &held_.emplace_back(); };
    for (size_t i = 0; i < count; ++i) {
      const Tag tag = tags[i];
      io_uring_sqe* cancel = next();
      io_uring_prep_cancel64(cancel, reinterpret_cast<uint64_t>(core) | tag, 0);
      io_uring_sqe_set_data64(cancel, kTagIgnore);
      cancel->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
    }
    io_uring_sqe* close = next();
    io_uring_prep_close(close, fd);
    io_uring_sqe_set_data64(close, kTagIgnore);
    close->flags |= IOSQE_CQE_SKIP_SUCCESS;
  }
  // Whether a completion of `core`'s operation `tag` with a result above 0
  // waits to be dispatched: later in the batch RunOnce is dispatching (it
  // took the batch off the queue before dispatching it), in the completion
  // queue, or (unknown which: assumed so) in the kernel's overflow list.
  bool CompletionWaiting(const Core* core, Tag tag) {
    const uint64_t want = reinterpret_cast<uint64_t>(core) | tag;
    for (unsigned i = batch_next_; i < batch_size_; ++i) {
      if (batch_[i].user_data == want && batch_[i].res > 0) return true;
    }
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      if (cqe->user_data == want && cqe->res > 0) return true;
    }
    return io_uring_cq_has_overflow(&ring_);
  }
  // A send was queued (its entry is in the ring, or held back). Sends go
  // to the kernel with the iteration's submission, before the next wait;
  // one queued in a long iteration (a batch of large receives, a run of
  // posted answers) goes at the first check at least kLateSendNs after it
  // was queued (SubmitLateSends), not when the iteration ends. The
  // readiness loop writes an answer at once; on io_uring one written at
  // the start of an iteration that ThreadSanitizer stretched past a second
  // reached its client a second late, 2xx although it had been checked in
  // time against its deadline when it was queued.
  void NoteSendQueued() {
    if (send_waiting_since_ns_ == 0) send_waiting_since_ns_ = ClockNs();
  }
  // Between two callbacks of an iteration: submits what the ring holds if
  // a send has waited kLateSendNs (one io_uring_enter per such wait: at
  // most one per 500 us of a busy iteration). Same-run A/B against the
  // build before it (tools/bench/ab.sh, --io=io_uring, 9 rounds): c64
  // 1.06x req/s, cpu/req 0.96; pipe16 1.06x, cpu/req 0.99 (noise). At
  // 200 us pipe16 cost 4-6% more CPU per request (more submissions).
  void SubmitLateSends() {
    if (send_waiting_since_ns_ == 0 || ClockNs() - send_waiting_since_ns_ < kLateSendNs) {
      return;
    }
    send_waiting_since_ns_ = 0;
    const int r = io_uring_submit(&ring_);
    if (r < 0 && !TransientEnterError(r) && !destroying_) DieOfEnterError(r);
  }
  void Register(Core* core) { cores_.insert(core); }
  // Deletes `core` if its owner is gone and nothing is in flight.
  void Release(Core* core) {
    if (core->busy_ || core->inflight_ > 0) return;
    if (core->orphaned_) {
      cores_.erase(core);
      delete core;
    }
  }
  // Runs core->RunDeferred() in this iteration (or the next, if called
  // outside one), before waiting again.
  void Defer(Core* core) {
    ++core->inflight_;  // keeps it alive until then
    deferred_.push_back(core);
  }
  // Runs core->PrepareSubmit() right before the next io_uring_enter, so
  // what it submits still reflects a stop requested meanwhile.
  void BeforeSubmit(Core* core) {
    ++core->inflight_;
    before_submit_.push_back(core);
  }
  // Receive buffers.
  char* Buffer(uint16_t bid) {
    return buffers_ + static_cast<size_t>(bid) * buffer_size_;
  }
  void ReturnBuffer(uint16_t bid) {
    io_uring_buf_ring_add(buf_ring_, Buffer(bid),
                          static_cast<unsigned>(buffer_size_), bid,
                          io_uring_buf_ring_mask(buffer_count_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  }
  // The header of every timestamped receive (a multishot recvmsg): no
  // address, room for one SCM_TIMESTAMPNS. The kernel writes both into the
  // provided buffer, ahead of the data; one header serves every stream.
  msghdr* ReceiveMessageHeader() { return &recv_header_; }

 private:
  struct Done {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
  };

  void Wake() override {
    CountWakeup();
    internal::SignalEventFd(wakefd_);
  }
  void AfterCallback() override { SubmitLateSends(); }
  int64_t ClockNs() const { return clock_ptr()->Now().time_since_epoch().count(); }
  static constexpr int64_t kLateSendNs = 500'000;
  // A multishot poll on the eventfd: every write to it is a completion.
  // (An io_uring read of a blocking eventfd is handed to an io-wq worker
  // thread: a wake-up round trip measured 67 us instead of 14 us.) The
  // counter is never read: Post() writes it once per empty -> non-empty
  // transition of the queue, so it cannot reach its 2^64 - 1 limit.
  void ArmWake() {
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_poll_multishot(sqe, wakefd_, POLLIN);
    io_uring_sqe_set_data64(sqe, kTagWake);
    wake_armed_ = true;
  }
  int Dispatch(const Done& d);
  int RunDeferredWork();
  // Submits what the ring holds; true if `n` entries are free then.
  bool SubmitForRoom(unsigned n) {
    const int r = io_uring_submit(&ring_);
    if (r < 0 && !TransientEnterError(r) && !destroying_) DieOfEnterError(r);
    return io_uring_sq_space_left(&ring_) >= n;
  }
  // Moves the entries held back (Sqe) into the ring, in order, a linked
  // chain whole (unless longer than the ring); what the kernel leaves no
  // room for stays for the next iteration.
  void MoveHeld() {
    while (!held_.empty()) {
      size_t chain = 1;
      while (chain < held_.size() &&
             (held_[chain - 1].flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK)) != 0) {
        ++chain;
      }
      const auto need = static_cast<unsigned>(std::min<size_t>(chain, ring_.sq.ring_entries));
      if (io_uring_sq_space_left(&ring_) < need && !SubmitForRoom(need)) return;
      for (unsigned i = 0; i < need; ++i) {
        *io_uring_get_sqe(&ring_) = held_.front();
        held_.pop_front();
      }
    }
  }

  io_uring ring_{};
  bool ring_ready_ = false;
  bool destroying_ = false;
  int wakefd_ = -1;
  bool wake_armed_ = false;
  // When the oldest send not yet submitted was queued (the clock's
  // nanoseconds); 0: none (NoteSendQueued).
  int64_t send_waiting_since_ns_ = 0;
  std::vector<io_uring_cqe*> cqe_ptrs_;
  std::vector<Done> batch_;
  // The batch being dispatched: batch_[batch_next_, batch_size_) are yet
  // to be (for CompletionWaiting).
  unsigned batch_next_ = 0;
  unsigned batch_size_ = 0;
  std::vector<Core*> deferred_;
  std::vector<Core*> running_deferred_;
  std::vector<Core*> before_submit_;
  std::vector<Core*> preparing_;
  // Submission entries held back while the kernel took none (Sqe), in
  // order; a deque, so an entry stays where it is while more are added.
  std::deque<io_uring_sqe> held_;

  // Provided receive buffers (one group for the loop).
  const unsigned buffer_count_;
  const size_t buffer_size_;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t buf_ring_bytes_ = 0;
  char* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  msghdr recv_header_{};

  absl::flat_hash_set<Core*> cores_;
  absl::flat_hash_map<int, Core*> watches_;  // fd -> WatchCore
  absl::flat_hash_map<int, Core*> accepts_;  // listen fd -> AcceptCore
};

// ------------------------------------------------------------------ Watch

class WatchCore final : public Core {
 public:
  WatchCore(UringLoop* loop, int fd, uint32_t interest, IoCallback cb)
      : Core(loop), fd_(fd), interest_(interest), cb_(std::move(cb)) {}

  void ArmPoll() {
    if (armed_ || orphaned_) return;
    // Under a tag with no cancelled poll still to complete, so that a
    // completion tells the live poll from a replaced one. If both have one
    // (two Modify() calls in one iteration), the first of them to complete
    // arms it.
    if (stale_[Slot(tag_)] > 0) {
      const Tag other = tag_ == kTagPoll ? kTagPollAlt : kTagPoll;
      if (stale_[Slot(other)] > 0) return;
      tag_ = other;
    }
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_poll_add(sqe, fd_, InterestToPollMask(interest_));
    loop_->Arm(this, tag_, sqe);
    armed_ = true;
    suppressed_ = false;
  }

  void SetInterest(uint32_t interest) {
    if (interest == interest_ && !suppressed_) return;
    interest_ = interest;
    if (armed_) {
      // Replace the poll: cancel it and arm one with the new mask under the
      // other tag, so the new one reports at once if it is ready and the old
      // one's completion (the cancellation's, or its own if it had
      // completed) is recognised as stale. Every poll completes once.
      loop_->CancelOp(this, tag_);
      ++stale_[Slot(tag_)];
      armed_ = false;
    }
    ArmPoll();
  }

  void Detach() {
    orphaned_ = true;
    if (armed_) loop_->CancelOp(this, tag_);
    if (!busy_) cb_ = nullptr;  // else destroyed with the block, after it returns
  }

  void OnCqe(uint64_t tag, int res, uint32_t) override {
    if (stale_[Slot(tag)] > 0) {
      // A poll a Modify() replaced (none is armed under a tag while one
      // of these is outstanding). Before, a second Modify in one
      // iteration armed under the first replaced poll's tag: its
      // completion was taken for the live poll's, two polls ran on
      // (callbacks twice per event), and Unwatch cancelled only one (the
      // other kept the socket open after close()).
      --stale_[Slot(tag)];
      if (!suppressed_) ArmPoll();  // if it waited for a free tag
      return;
    }
    armed_ = false;
    if (res >= 0) {
      uint32_t events = PollMaskToEvents(static_cast<uint32_t>(res));
      // Hang-up and error are always reported, except a half-close on a
      // parked fd (epoll does not report it either).
      const uint32_t wanted = interest_ | kError |
                              (interest_ != 0 || (res & POLLHUP) ? kHangup : 0);
      events &= wanted;
      if (events != 0) {
        cb_(events);
      } else if (interest_ == 0) {
        // Only a half-close while parked: arming again would report it at
        // once, forever. Wait for a Modify().
        suppressed_ = true;
        return;
      }
    }
    if (!orphaned_) ArmPoll();  // level-triggered: reported again if still ready
  }

  bool OnOrphanCqe(uint64_t, int res, uint32_t) override { return res >= 0; }

 private:
  const int fd_;
  uint32_t interest_;
  IoCallback cb_;
  static int Slot(uint64_t tag) { return tag == kTagPoll ? 0 : 1; }

  Tag tag_ = kTagPoll;
  int stale_[2] = {0, 0};  // replaced polls not yet completed, by tag
  bool armed_ = false;
  bool suppressed_ = false;
};

absl::Status UringLoop::Watch(int fd, uint32_t interest, IoCallback cb) {
  if (fd < 0) return absl::InvalidArgumentError("Watch: negative fd");
  if (watches_.contains(fd)) {
    return absl::AlreadyExistsError(absl::StrCat("Watch: fd ", fd, " already watched"));
  }
  auto* core = new WatchCore(this, fd, interest, std::move(cb));
  Register(core);
  watches_.emplace(fd, core);
  core->ArmPoll();
  return absl::OkStatus();
}

absl::Status UringLoop::Modify(int fd, uint32_t interest) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) {
    return absl::NotFoundError(absl::StrCat("Modify: fd ", fd, " not watched"));
  }
  static_cast<WatchCore*>(it->second)->SetInterest(interest);
  return absl::OkStatus();
}

absl::Status UringLoop::Unwatch(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) {
    return absl::NotFoundError(absl::StrCat("Unwatch: fd ", fd, " not watched"));
  }
  auto* core = static_cast<WatchCore*>(it->second);
  watches_.erase(it);
  core->Detach();
  Release(core);
  return absl::OkStatus();
}

// ----------------------------------------------------------------- Accept

class AcceptCore final : public Core {
 public:
  AcceptCore(UringLoop* loop, int fd, AcceptCallback cb)
      : Core(loop), fd_(fd), cb_(std::move(cb)) {}
  // Deleted once stopped with nothing in flight: no connection can come
  // late any more, which `late` is told (StopAccept's contract).
  ~AcceptCore() override {
    if (late_ && !loop_->destroying()) {
      loop_->Post([late = std::move(late_)]() mutable { late(-1, 0); });
    }
  }

  // Prepared right before the next submission: a StopAccept() before it
  // (e.g. a Pause) leaves the pending connections in the backlog.
  void ArmAccept() {
    if (armed_ || orphaned_) return;
    armed_ = true;
    loop_->BeforeSubmit(this);
  }
  void PrepareSubmit() override {
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_multishot_accept(sqe, fd_, nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    loop_->Arm(this, kTagAccept, sqe);
  }
  void Restart(AcceptCallback cb) {
    cb_ = std::move(cb);
    ArmAccept();
  }
  bool armed() const { return armed_; }

  void Detach(AcceptCallback late) {
    orphaned_ = true;
    late_ = std::move(late);
    if (armed_) loop_->CancelOp(this, kTagAccept);
    if (!busy_) cb_ = nullptr;
  }

  void OnCqe(uint64_t, int res, uint32_t flags) override {
    const bool more = flags & IORING_CQE_F_MORE;
    if (!more) armed_ = false;
    if (res >= 0) {
      cb_(res, 0);
      // The kernel ended the multishot without an error (e.g. the
      // completion queue overflowed): go on.
      if (!more && !orphaned_) ArmAccept();
    } else if (res == -ECANCELED) {
      ArmAccept();  // a cancellation meant for an earlier block at this address
    } else {
      cb_(-1, -res);
    }
  }

  bool OnOrphanCqe(uint64_t, int res, uint32_t flags) override {
    if (!(flags & IORING_CQE_F_MORE)) armed_ = false;
    if (res < 0) return false;
    // Accepted after the stop, before the cancellation: the owner's late
    // callback serves it, else it is closed.
    if (late_ && !loop_->destroying()) {
      late_(res, 0);
    } else {
      close(res);
    }
    return true;
  }

 private:
  const int fd_;
  AcceptCallback cb_;
  AcceptCallback late_;  // after Detach
  bool armed_ = false;
};

absl::Status UringLoop::StartAccept(int listen_fd, AcceptCallback cb) {
  if (listen_fd < 0) return absl::InvalidArgumentError("StartAccept: negative fd");
  auto it = accepts_.find(listen_fd);
  if (it != accepts_.end()) {
    auto* core = static_cast<AcceptCore*>(it->second);
    if (core->armed()) {
      return absl::AlreadyExistsError(
          absl::StrCat("StartAccept: fd ", listen_fd, " already accepting"));
    }
    core->Restart(std::move(cb));
    return absl::OkStatus();
  }
  auto* core = new AcceptCore(this, listen_fd, std::move(cb));
  Register(core);
  accepts_.emplace(listen_fd, core);
  core->ArmAccept();
  return absl::OkStatus();
}

void UringLoop::StopAccept(int listen_fd, AcceptCallback late) {
  auto it = accepts_.find(listen_fd);
  if (it == accepts_.end()) {  // not accepting: nothing comes late
    if (late) Post([late = std::move(late)]() mutable { late(-1, 0); });
    return;
  }
  auto* core = static_cast<AcceptCore*>(it->second);
  accepts_.erase(it);
  core->Detach(std::move(late));
  Release(core);
}

// ----------------------------------------------------------------- Stream

// The loop-owned half of a UringStream: the socket, the output being sent
// and the state of the operations in flight.
class StreamCore final : public Core {
 public:
  StreamCore(UringLoop* loop, UniqueFd fd, StreamCallbacks* callbacks,
             const StreamOptions& options)
      : Core(loop),
        fd_(fd.release()),
        receive_timestamps_(options.receive_timestamps),
        callbacks_(callbacks) {}

  ~StreamCore() override {
    if (fd_ >= 0) close(fd_);
  }

  // StreamOptions::read_on_start needs no read(2) here: the first receive
  // goes with the loop's next submission and completes there at once if the
  // data is already in (a speculative read without a system call).
  void Start() { UpdateOps(); }

  std::string& output() { return out_; }
  TimePoint last_write_progress() const { return write_progress_; }

  bool Flush() {
    if (closed_ || failed_) return false;
    if (!sending_ && !out_.empty()) StartSend();
    if (pending_output() > 0) drain_wanted_ = true;
    return true;
  }

  size_t pending_output() const {
    return out_.size() + (send_buf_.size() - send_pos_);
  }

  void SetReading(bool reading) {
    if (reading_ == reading || closed_) {
      reading_ = reading;
      return;
    }
    reading_ = reading;
    if (reading) eof_seen_while_paused_ = false;
    if (reading && (!stash_.empty() || (eof_ && !eof_reported_))) {
      if (!deferred_) {
        deferred_ = true;
        loop_->Defer(this);
      }
    }
    UpdateOps();
  }
  bool reading() const { return reading_; }

  void ShutdownWrite() {
    if (closed_) return;
    if (pending_output() > 0) {
      shutdown_after_send_ = true;
      return;
    }
    ::shutdown(fd_, SHUT_WR);
  }

  // Like the readiness stream's Close(): output the owner flushed goes as
  // far as the kernel takes it at once, the rest is dropped. A send still in
  // flight holds the close back (its bytes come first): it is cancelled if
  // it is still waiting, and once it completes what follows it is written
  // without waiting (FinishClosing), then the socket closes.
  void Close() {
    if (closed_) return;
    closed_ = true;
    callbacks_ = nullptr;
    stash_.clear();
    if (sending_ && !failed_) {
      closing_ = true;
      loop_->CancelOp(this, kTagSend);
      return;  // the send in flight keeps this alive
    }
    std::string().swap(out_);
    CloseSocket();
    loop_->Release(this);
  }
  bool closed() const { return closed_; }
  int fd() const { return closed_ ? -1 : fd_; }
  // Received and not delivered: in the socket (the receive's task work has
  // not run yet), kept during a pause, or in a completion not yet taken.
  bool HasUnreadInput() {
    if (closed_) return false;
    return !stash_.empty() || internal::SocketHasUnreadBytes(fd_) ||
           loop_->CompletionWaiting(this, kTagRecv);
  }

  void Detach() {
    Close();
    orphaned_ = true;
    loop_->Release(this);
  }

  void OnCqe(uint64_t tag, int res, uint32_t flags) override {
    switch (tag) {
      case kTagRecv:
        OnRecv(res, flags);
        break;
      case kTagSend:
        OnSend(res);
        break;
      case kTagHup:
        OnHup(res, flags);
        break;
      default:
        break;
    }
  }

  bool OnOrphanCqe(uint64_t tag, int res, uint32_t flags) override {
    if (flags & IORING_CQE_F_BUFFER) {
      loop_->ReturnBuffer(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
    }
    if (tag == kTagSend) {
      if (closing_) {
        OnSend(res);  // a close held back by it goes on
      } else {
        // Only the loop's destructor orphans a stream its owner has not
        // closed (an owner that breaks the contract: the handle goes
        // before the loop). Nothing is sent again, no callback runs: a
        // resubmitted send (a cancelled one, the rest of a partial one)
        // kept the destructor waiting out its bound, then left the kernel
        // pointing into the freed output.
        sending_ = false;
      }
    }
    return false;
  }

  void RunDeferred() override {
    deferred_ = false;
    if (closed_ || !reading_) return;
    DeliverStash();
    MaybeReportEof();
  }

 private:
  enum class RecvState : uint8_t { kIdle, kArmed, kCancelling };

  bool Live() const { return !closed_ && !failed_; }

  // Arms or cancels the receive and the hang-up poll to match the state.
  // A pause costs nothing until data arrives during it: only then is the
  // receive cancelled (the stash stays bounded by what was in flight) and a
  // poll watches for a hang-up instead; an armed receive reports the end
  // of input and errors by itself. Whenever no receive is armed (paused,
  // or past the end of input) the poll watches, so that a reset is
  // reported as epoll reports it on the readiness stream's parked socket:
  // a client that half-closed and then reset while its answer was being
  // made is gone, and its owner stops working for it. Bytes arriving
  // during a pause mark the stream throttled: its peer is ahead of its
  // consumer (a client that pipelines past the pipeline's depth, or sends
  // while not reading its answers), and a multishot receive would take all
  // the peer sent, up to every provided buffer, into the process each time
  // reading resumed. A throttled stream receives one buffer per receive,
  // so what the consumer cannot take yet stays in the kernel, under the
  // socket's flow control, as on the readiness stream, for the rest of the
  // connection (a peer that ran ahead once is likely to again; a receive
  // that finds the socket empty is no proof it stopped).
  void UpdateOps() {
    if (!Live()) return;
    if (reading_ && !eof_ && recv_ == RecvState::kIdle) ArmRecv();
    if (!reading_ && !stash_.empty() && recv_ == RecvState::kArmed) {
      loop_->CancelOp(this, kTagRecv);
      recv_ = RecvState::kCancelling;
    }
    const bool want_hup = recv_ == RecvState::kIdle && (!reading_ || eof_);
    if (want_hup && !hup_armed_) {
      // Multishot and edge-triggered (io_uring's default without
      // IORING_POLL_ADD_LEVEL): one completion with the socket's state
      // when armed, then one per change of it (a FIN, a reset, both
      // directions shut), never one per iteration. A one-shot poll cannot
      // do this past a FIN: the kernel adds POLLRDHUP (with POLLERR,
      // POLLHUP) to every poll's mask, so it would complete at once,
      // again and again. Bytes arriving wake no poll that does not ask
      // for POLLIN.
      io_uring_sqe* sqe = loop_->Sqe();
      io_uring_prep_poll_multishot(sqe, fd_, POLLRDHUP);
      loop_->Arm(this, kTagHup, sqe);
      hup_armed_ = true;
    }
    if (!want_hup && hup_armed_ && !hup_cancelling_) {
      loop_->CancelOp(this, kTagHup);
      hup_cancelling_ = true;
    }
  }

  // The first receive is one-shot: a connection that sends one request and
  // is closed after the answer (connection-per-request) never has a
  // receive left armed (a poll in the kernel) to cancel. From the second
  // on, one multishot receive serves the connection's life. With receive
  // timestamps every receive is a multishot recvmsg: only that puts the
  // control data (the stamp) into the provided buffer, beside the data.
  // A throttled stream (UpdateOps) receives one-shot, without the stamp (a
  // one-shot recvmsg would write it into the loop's shared header): its
  // requests' clocks start at the read.
  void ArmRecv() {
    io_uring_sqe* sqe = loop_->Sqe();
    recv_carries_header_ = receive_timestamps_ && !throttled_;
    if (recv_carries_header_) {
      io_uring_prep_recvmsg_multishot(sqe, fd_, loop_->ReceiveMessageHeader(), 0);
    } else if (throttled_) {
      io_uring_prep_recv(sqe, fd_, nullptr, 0, 0);
    } else if (received_once_) {
      io_uring_prep_recv_multishot(sqe, fd_, nullptr, 0, 0);
    } else {
      io_uring_prep_recv(sqe, fd_, nullptr, 0, 0);
      received_once_ = true;
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    loop_->Arm(this, kTagRecv, sqe);
    recv_ = RecvState::kArmed;
  }

  // `received`: when the kernel got `data` (TimePoint{} if unknown). Data
  // kept during a pause is delivered later with no receive time.
  void Deliver(std::string_view data, TimePoint received = TimePoint{}) {
    if (!reading_) throttled_ = true;  // the peer is ahead: see UpdateOps
    if (!reading_ || !stash_.empty()) {
      stash_.append(data);  // in order, after what is already kept
      if (reading_) DeliverStash();
      return;
    }
    internal::ReceiveTimeScope scope(this, received);
    callbacks_->OnStreamData(data);
  }

  // A timestamped receive's buffer: header, control data, then the data.
  // No data: the end of the input.
  void DeliverMessage(char* buf, int len) {
    msghdr* header = loop_->ReceiveMessageHeader();
    io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buf, len, header);
    if (out == nullptr) {
      Fail(EPROTO);  // the kernel broke its own layout
      return;
    }
    const unsigned size = io_uring_recvmsg_payload_length(out, len, header);
    if (size == 0) {
      eof_ = true;
      MaybeReportEof();
      return;
    }
    TimePoint received{};
    for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, header); c != nullptr;
         c = io_uring_recvmsg_cmsg_nexthdr(out, header, c)) {
      timespec stamp;
      if (internal::TimestampFromControlMessage(*c, &stamp)) {
        received = ReceiveTimeOnLoopClock(stamp, loop_->clock());
      }
    }
    Deliver(std::string_view(static_cast<char*>(io_uring_recvmsg_payload(out, header)),
                             size),
            received);
  }

  // What was kept during a pause, in pieces of at most kStashPiece (the
  // readiness stream's read): the consumer may pause after any piece (its
  // pipeline full), and the rest stays here. Handed over whole, megabytes
  // that a multishot receive had taken went into the consumer's own stash,
  // which re-stashed what it could not parse yet after every pipeline's
  // worth of requests: a client pipelining without reading kept a reactor
  // busy copying, and its write timeout fired late (outside review).
  void DeliverStash() {
    while (!stash_.empty() && reading_ && !closed_) {
      const std::string piece = stash_.TakeFront(kStashPiece);
      callbacks_->OnStreamData(piece);
    }
  }

  // Once everything received was delivered (even while paused: a hang-up
  // ends the connection as the readiness stream reports it).
  void MaybeReportEof() {
    if (!eof_ || eof_reported_ || closed_ || !stash_.empty()) return;
    eof_reported_ = true;
    callbacks_->OnStreamEof();
  }

  void OnRecv(int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) recv_ = RecvState::kIdle;
    if (flags & IORING_CQE_F_BUFFER) {
      const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      if (res > 0 && Live() && !eof_) {
        if (recv_carries_header_) {
          DeliverMessage(loop_->Buffer(bid), res);
        } else {
          Deliver(std::string_view(loop_->Buffer(bid), static_cast<size_t>(res)));
        }
      }
      loop_->ReturnBuffer(bid);
    } else if (res == 0) {
      if (Live() && !eof_) {
        eof_ = true;
        MaybeReportEof();
      }
    } else if (res < 0 && res != -ECANCELED && res != -ENOBUFS && Live()) {
      Fail(-res);
      return;
    }
    // Data stashed during a pause: stop receiving. ENOBUFS (every buffer was
    // in use), a cancelled pause that reading overtook, or the kernel ending
    // the multishot: receive again.
    UpdateOps();
  }

  void StartSend() {
    send_buf_.swap(out_);
    out_.clear();
    send_pos_ = 0;
    SubmitSend();
  }
  void SubmitSend() {
    io_uring_sqe* sqe = loop_->Sqe();
    io_uring_prep_send(sqe, fd_, send_buf_.data() + send_pos_,
                       send_buf_.size() - send_pos_, MSG_NOSIGNAL);
    loop_->Arm(this, kTagSend, sqe);
    loop_->NoteSendQueued();
    sending_ = true;
  }

  void OnSend(int res) {
    sending_ = false;
    if (closing_) {
      FinishClosing(res);
      return;
    }
    if (closed_) return;
    if (res == -ECANCELED) {
      // Meant for an earlier block at this address (a cancellation linked
      // behind another runs after the rest of its submission): nothing was
      // sent; send it again.
      SubmitSend();
      return;
    }
    if (res <= 0) {
      if (!failed_) Fail(res < 0 ? -res : EPIPE);
      return;
    }
    send_pos_ += static_cast<size_t>(res);
    write_progress_ = loop_->Now();
    if (send_pos_ < send_buf_.size()) {
      SubmitSend();  // a partial send: the rest
      return;
    }
    send_pos_ = 0;
    if (!out_.empty()) {
      send_buf_.clear();
      StartSend();  // appended while this one was in flight
      return;
    }
    // Everything sent: both buffers go back to the allocator (an idle
    // connection holds none; the next answer allocates a fresh one).
    std::string().swap(send_buf_);
    std::string().swap(out_);
    if (shutdown_after_send_) {
      shutdown_after_send_ = false;
      ::shutdown(fd_, SHUT_WR);
    }
    if (drain_wanted_) {
      drain_wanted_ = false;
      callbacks_->OnStreamDrained();
    }
  }

  // The send that held a Close() back completed (`res`: its result, or
  // -ECANCELED if it was still waiting). What remains is written as far as
  // the kernel takes it without waiting, in order; then the socket closes
  // through the ring, after anything submitted on it before. Never deletes
  // this (the caller's Release does).
  void FinishClosing(int res) {
    closing_ = false;
    if (res > 0) send_pos_ += static_cast<size_t>(res);
    std::string_view rest(send_buf_);
    rest.remove_prefix(std::min(send_pos_, rest.size()));
    if (res >= 0 || res == -ECANCELED) {
      if (WriteWithoutWaiting(rest)) WriteWithoutWaiting(out_);
    }
    std::string().swap(send_buf_);
    std::string().swap(out_);
    send_pos_ = 0;
    CloseSocket();
  }
  // A submission queued earlier must never reach a reused descriptor
  // number: the close goes through the ring after a cancellation of each
  // operation still in flight (linked, in order, in the next
  // io_uring_enter; no close(2) of its own either way).
  void CloseSocket() {
    Tag tags[3];
    size_t n = 0;
    if (recv_ != RecvState::kIdle) tags[n++] = kTagRecv;
    if (hup_armed_) tags[n++] = kTagHup;
    if (sending_) tags[n++] = kTagSend;  // a failed stream's, if any
    loop_->CancelAndClose(this, tags, n, fd_);
    fd_ = -1;
  }
  // True if the kernel took all of `data`.
  bool WriteWithoutWaiting(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n =
          ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // A report of the hang-up poll: the socket's state (see UpdateOps).
  void OnHup(int res, uint32_t flags) {
    const bool wanted = !hup_cancelling_;  // not replaced by a receive
    if (!(flags & IORING_CQE_F_MORE)) {
      hup_armed_ = false;
      hup_cancelling_ = false;
    }
    if (res > 0 && wanted && Live()) {
      if (res & (POLLERR | POLLNVAL)) {
        // A reset (or another error), before or after the end of input:
        // as on the readiness stream, what the peer sent before it and
        // the owner has not taken is not delivered.
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        Fail(err != 0 ? err : ECONNRESET);
        return;
      }
      if (!eof_ && !eof_seen_while_paused_) {
        // Paused. A hang-up (both ways) ends the input. A half-close, even
        // while an answer is stuck, stays for the receive to find once
        // reading resumes, after what the client sent before it; the poll
        // goes on watching for a reset meanwhile.
        if (res & POLLHUP) {
          eof_ = true;
          eof_reported_ = true;
          // Nothing is delivered after the end: what arrived during the
          // pause goes, as the readiness stream leaves it unread in the
          // kernel.
          stash_.clear();
          callbacks_->OnStreamEof();
        } else if (res & POLLRDHUP) {
          eof_seen_while_paused_ = true;
        }
      }
      // Otherwise the input had ended or was seen ending: a hang-up
      // without an error is both directions shut in order (the owner's
      // ShutdownWrite, the peer's FIN), no reset. Nothing to report, as on
      // the readiness stream; the poll stays for a reset that may follow.
    }
    if (!hup_armed_) UpdateOps();  // ended by the kernel: again if still wanted
  }

  void Fail(int error) {
    failed_ = true;
    eof_ = true;
    eof_reported_ = true;
    stash_.clear();  // nothing is delivered after the error
    if (callbacks_ != nullptr) callbacks_->OnStreamError(error);
  }

  // Ordered so that the small fields share words (every idle connection
  // has a stream): they fill the words after Core's.
  int fd_;
  RecvState recv_ = RecvState::kIdle;
  const bool receive_timestamps_;  // StreamOptions::receive_timestamps
  bool received_once_ = false;
  bool throttled_ = false;            // see UpdateOps
  bool recv_carries_header_ = false;  // the armed receive is a multishot recvmsg
  bool sending_ = false;
  bool hup_armed_ = false;
  bool hup_cancelling_ = false;
  bool reading_ = true;
  bool eof_ = false;
  bool eof_reported_ = false;
  bool eof_seen_while_paused_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool closing_ = false;  // closed_, the socket kept until the send completes
  bool drain_wanted_ = false;
  bool shutdown_after_send_ = false;
  bool deferred_ = false;
  StreamCallbacks* callbacks_;

  std::string out_;       // appended by the owner
  std::string send_buf_;  // in flight: [send_pos_, size) not yet confirmed
  size_t send_pos_ = 0;
  TimePoint write_progress_{};  // when a send last completed with bytes
  LazyBytes stash_;         // received while not reading
};

class UringStream final : public Stream {
 public:
  explicit UringStream(StreamCore* core) : core_(core) {}
  ~UringStream() override { core_->Detach(); }

  void Start() override { core_->Start(); }
  std::string& output() override { return core_->output(); }
  bool Flush() override { return core_->Flush(); }
  size_t pending_output() const override { return core_->pending_output(); }
  void SetReading(bool reading) override { core_->SetReading(reading); }
  bool reading() const override { return core_->reading(); }
  void ShutdownWrite() override { core_->ShutdownWrite(); }
  void Close() override { core_->Close(); }
  bool closed() const override { return core_->closed(); }
  int fd() const override { return core_->fd(); }
  bool HasUnreadInput() const override { return core_->HasUnreadInput(); }
  TimePoint receive_time() const override {
    return internal::DeliveryReceiveTime(core_);
  }
  TimePoint last_write_progress() const override {
    return core_->last_write_progress();
  }

 private:
  StreamCore* const core_;
};

std::unique_ptr<Stream> UringLoop::CreateStream(UniqueFd fd,
                                                StreamCallbacks* callbacks,
                                                const StreamOptions& options) {
  auto* core = new StreamCore(this, std::move(fd), callbacks, options);
  Register(core);
  return std::make_unique<UringStream>(core);
}

// ------------------------------------------------------------------- loop

int UringLoop::Dispatch(const Done& d) {
  if (d.user_data == kTagIgnore) return 0;
  if (d.user_data == kTagWake) {
    if (!(d.flags & IORING_CQE_F_MORE)) {
      wake_armed_ = false;
      ArmWake();
    }
    return 0;
  }
  Core* core = reinterpret_cast<Core*>(d.user_data & ~kTagMask);
  const uint64_t tag = d.user_data & kTagMask;
  if (!(d.flags & IORING_CQE_F_MORE)) --core->inflight_;
  int ran = 0;
  if (core->orphaned_) {
    if (core->OnOrphanCqe(tag, d.res, d.flags)) CountStaleEvent();
  } else {
    core->busy_ = true;
    core->OnCqe(tag, d.res, d.flags);
    core->busy_ = false;
    ran = 1;
  }
  Release(core);
  return ran;
}

int UringLoop::RunDeferredWork() {
  running_deferred_.swap(deferred_);
  for (Core* core : running_deferred_) {
    --core->inflight_;
    if (!core->orphaned_) {
      core->busy_ = true;
      core->RunDeferred();
      core->busy_ = false;
    }
    Release(core);
    SubmitLateSends();
  }
  const int ran = static_cast<int>(running_deferred_.size());
  running_deferred_.clear();
  return ran;
}

int UringLoop::RunOnce(Duration max_wait) {
  MoveHeld();
  preparing_.swap(before_submit_);
  for (Core* core : preparing_) {
    --core->inflight_;
    if (!core->orphaned_) core->PrepareSubmit();
    Release(core);
  }
  preparing_.clear();
  // Entries still held back (the kernel took none): no sleep before they
  // are submitted.
  const int64_t wait_ns = BeginIteration(max_wait, !deferred_.empty() || !held_.empty());
  io_uring_cqe* first = nullptr;
  send_waiting_since_ns_ = 0;  // submitted now
  int ret;
  if (wait_ns == 0) {
    ret = io_uring_submit_and_wait_timeout(&ring_, &first, 0, nullptr, nullptr);
  } else if (wait_ns < 0) {
    ret = io_uring_submit_and_wait_timeout(&ring_, &first, 1, nullptr, nullptr);
  } else {
    __kernel_timespec ts{wait_ns / 1'000'000'000, wait_ns % 1'000'000'000};
    ret = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }
  const int64_t now = ReadClock();
  if (ret < 0 && ret != -ETIME && !TransientEnterError(ret)) DieOfEnterError(ret);
  // Take one batch off the completion queue, then dispatch: callbacks may
  // queue submissions (even submit, if the queue is full) meanwhile.
  const unsigned n = io_uring_peek_batch_cqe(&ring_, cqe_ptrs_.data(),
                                             static_cast<unsigned>(cqe_ptrs_.size()));
  for (unsigned i = 0; i < n; ++i) {
    batch_[i] = Done{cqe_ptrs_[i]->user_data, cqe_ptrs_[i]->res, cqe_ptrs_[i]->flags};
  }
  io_uring_cq_advance(&ring_, n);
  int callbacks = 0;
  batch_size_ = n;
  for (batch_next_ = 0; batch_next_ < n;) {
    callbacks += Dispatch(batch_[batch_next_++]);
    SubmitLateSends();
  }
  batch_size_ = batch_next_ = 0;
  callbacks += RunDeferredWork();
  CountIoEvents(callbacks);
  return callbacks + FinishIteration(now);
}

absl::Status UringLoop::Init(const EventLoopOptions& options) {
  cqe_ptrs_.resize(batch_.size());
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL |
                 IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  params.cq_entries = options.ring_entries * 4;
  int r = io_uring_queue_init_params(options.ring_entries, &ring_, &params);
  if (r == -EINVAL) {  // before 5.19: no cooperative task running
    params = io_uring_params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = options.ring_entries * 4;
    r = io_uring_queue_init_params(options.ring_entries, &ring_, &params);
  }
  if (r < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "io_uring_setup: ", std::strerror(-r),
        r == -ENOSYS || r == -EPERM ? " (io_uring is disabled on this system)" : ""));
  }
  ring_ready_ = true;
  const uint32_t needed = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL |
                          IORING_FEAT_EXT_ARG;
  if ((params.features & needed) != needed) {
    return absl::FailedPreconditionError(
        "io_uring: the kernel lacks NODROP/FAST_POLL/EXT_ARG (Linux 5.11+)");
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return absl::FailedPreconditionError("io_uring: no probe");
  for (int op : {IORING_OP_RECV, IORING_OP_SEND, IORING_OP_POLL_ADD,
                 IORING_OP_POLL_REMOVE, IORING_OP_ASYNC_CANCEL,
                 IORING_OP_ACCEPT, IORING_OP_READ, IORING_OP_CLOSE}) {
    if (!io_uring_opcode_supported(probe, op)) {
      io_uring_free_probe(probe);
      return absl::FailedPreconditionError(
          absl::StrCat("io_uring: opcode ", op, " not supported"));
    }
  }
  io_uring_free_probe(probe);
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) == 0) std::sscanf(u.release, "%d.%d", &major, &minor);
  if (major < 6) {
    return absl::FailedPreconditionError(absl::StrCat(
        "io_uring: multishot receive needs Linux 6.0+, this is ", u.release));
  }

  // The provided receive buffers.
  if (buffer_count_ == 0 || buffer_count_ > 32768 ||
      (buffer_count_ & (buffer_count_ - 1)) != 0 || buffer_size_ == 0) {
    return absl::InvalidArgumentError(
        "recv_buffers must be a power of two <= 32768, recv_buffer_size > 0");
  }
  if (buffer_size_ <= sizeof(io_uring_recvmsg_out) + CMSG_SPACE(sizeof(timespec))) {
    return absl::InvalidArgumentError(
        "recv_buffer_size must leave room for a receive timestamp");
  }
  recv_header_.msg_controllen = CMSG_SPACE(sizeof(timespec));
  buf_ring_bytes_ = buffer_count_ * sizeof(io_uring_buf);
  void* ring_mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_mem == MAP_FAILED) return ErrnoStatus("mmap(buffer ring)", errno);
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  // Populated at once: the kernel takes the buffers in turn round the ring,
  // so under traffic every one of them is soon touched anyway; this way the
  // memory is a fixed cost of the loop from its start (recv_buffers x
  // recv_buffer_size, 4 MiB by default), and no receive takes a page fault.
  buffers_bytes_ = buffer_count_ * buffer_size_;
  void* buf_mem = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (buf_mem == MAP_FAILED) return ErrnoStatus("mmap(receive buffers)", errno);
  buffers_ = static_cast<char*>(buf_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
  reg.ring_entries = buffer_count_;
  reg.bgid = kBufferGroup;
  r = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (r < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "io_uring: provided buffer rings (Linux 5.19+): ", std::strerror(-r)));
  }
  const int mask = io_uring_buf_ring_mask(buffer_count_);
  for (unsigned i = 0; i < buffer_count_; ++i) {
    io_uring_buf_ring_add(buf_ring_, Buffer(static_cast<uint16_t>(i)),
                          static_cast<unsigned>(buffer_size_),
                          static_cast<uint16_t>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffer_count_));

  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) return ErrnoStatus("eventfd", errno);
  ArmWake();
  return absl::OkStatus();
}

UringLoop::~UringLoop() {
  destroying_ = true;
  if (ring_ready_) {
    // Cancel everything and collect the completions, so the kernel no
    // longer touches any buffer or socket when they are freed and closed.
    for (Core* core : cores_) core->orphaned_ = true;
    // After what was held back (Sqe), which it cancels too.
    MoveHeld();
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, kTagIgnore);
    auto in_flight = [this] {
      if (wake_armed_) return true;
      for (Core* core : cores_) {
        if (core->inflight_ > 0) return true;
      }
      return false;
    };
    for (Core* core : deferred_) --core->inflight_;
    deferred_.clear();
    for (Core* core : before_submit_) --core->inflight_;
    before_submit_.clear();
    for (int round = 0; round < 1000 && (in_flight() || !held_.empty()); ++round) {
      MoveHeld();
      __kernel_timespec ts{0, 10'000'000};
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      const unsigned n = io_uring_peek_batch_cqe(
          &ring_, cqe_ptrs_.data(), static_cast<unsigned>(cqe_ptrs_.size()));
      for (unsigned i = 0; i < n; ++i) {
        const uint64_t ud = cqe_ptrs_[i]->user_data;
        if (ud == kTagWake) {
          if (!(cqe_ptrs_[i]->flags & IORING_CQE_F_MORE)) wake_armed_ = false;
        } else if (ud != kTagIgnore) {
          Core* core = reinterpret_cast<Core*>(ud & ~kTagMask);
          if (!(cqe_ptrs_[i]->flags & IORING_CQE_F_MORE)) --core->inflight_;
          core->OnOrphanCqe(ud & kTagMask, cqe_ptrs_[i]->res, cqe_ptrs_[i]->flags);
        }
      }
      io_uring_cq_advance(&ring_, n);
    }
    MoveHeld();
    io_uring_submit(&ring_);  // closes queued by the last completions
    // Closes the kernel never took (it refused every submission): the
    // sockets are closed all the same.
    for (const io_uring_sqe& held : held_) {
      if (held.opcode == IORING_OP_CLOSE) close(held.fd);
    }
    held_.clear();
    for (Core* core : cores_) delete core;
    cores_.clear();
    io_uring_queue_exit(&ring_);
  }
  if (wakefd_ >= 0) close(wakefd_);
  if (buffers_ != nullptr) munmap(buffers_, buffers_bytes_);
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> CreateIoUringLoop(
    EventLoopOptions options) {
  if (options.max_events <= 0) {
    return absl::InvalidArgumentError("max_events must be positive");
  }
  if (options.ring_entries == 0) {
    return absl::InvalidArgumentError("ring_entries must be positive");
  }
  const Clock* clock = options.clock ? options.clock : SystemClock::Get();
  auto loop = std::make_unique<UringLoop>(clock, options);
  absl::Status s = loop->Init(options);
  if (!s.ok()) return s;
  return std::unique_ptr<EventLoop>(std::move(loop));
}

}  // namespace brisk::net
