// BoundedQueue<T>: a fixed-capacity multi-producer multi-consumer FIFO queue
// with blocking, non-blocking and timed operations, and Close().
//
//   brisk::BoundedQueue<int> q(/*capacity=*/1024);
//   // producers, any thread:
//   if (!q.Push(42)) { /* closed */ }
//   if (!q.TryPush(std::move(v))) { /* full or closed; v left untouched */ }
//   // consumers, any thread:
//   while (std::optional<int> v = q.Pop()) Use(*v);   // ends once closed+empty
//   std::optional<int> w = q.PopFor(std::chrono::milliseconds(5));
//   // owner, at shutdown:
//   q.Close();   // wakes every blocked Push/Pop; Pop drains what is left
//
// Design. The fast path is a lock-free ring buffer in the style of Dmitry
// Vyukov's bounded MPMC queue (as refined by Erik Rigtorp): one slot per
// element, each slot on its own cache line with an atomic "turn" counter that
// says whether the slot is free or full for a given lap; producers and
// consumers claim positions with a CAS on the head / tail index (each on its
// own cache line). An uncontended Push or Pop is a CAS plus two atomic
// stores and makes no system call. Blocking happens only when the queue is
// full (pushers) or empty (poppers): after a short bounded spin the thread
// registers itself in a waiter count and sleeps on a futex epoch word; the
// other side bumps the epoch and wakes a sleeper only when the waiter count is
// non-zero. All the ordering that rules out lost wake-ups is plain seq_cst
// atomics (see Await / WakeOne), no fences, so ThreadSanitizer can model it.
//
// Close() sets a bit in the head index itself, so "push after close fails" is
// exact: a Push either claimed its slot before Close() (and its item will be
// popped) or fails. After Close(), Pop/TryPop/PopFor keep returning the items
// still queued, then std::nullopt.
//
// Capacity is exact (any value >= 1; a power of two uses a mask instead of a
// division). Memory: capacity * max(64, sizeof(T) rounded up to 64) bytes.
//
// Thread-safety: every member function may be called concurrently from any
// number of threads. The destructor must not race with other calls; items
// still queued at destruction are destroyed. Linux only (futex).
//
// T must be nothrow move-constructible (checked at compile time): an item is
// moved in after its slot is claimed and moved out after it is released, so a
// throwing move could not be undone.

#ifndef BRISK_CONCURRENCY_BOUNDED_QUEUE_H_
#define BRISK_CONCURRENCY_BOUNDED_QUEUE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "concurrency/futex.h"

namespace brisk {

template <typename T>
class BoundedQueue {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "BoundedQueue<T> needs a noexcept move constructor");

 public:
  // Default for `max_spin` below.
  static constexpr std::chrono::nanoseconds kDefaultMaxSpin{1000};

  // `capacity` >= 1 (0 is treated as 1). A Push on a full queue or a Pop on
  // an empty one first spins (with a CPU pause, re-checking) for up to
  // `max_spin`, then sleeps on a futex. A short spin keeps producer/consumer
  // hand-offs cheap; a longer one (e.g. 50us for a thread pool's workers)
  // buys wake-up latency with CPU time. Zero disables spinning.
  explicit BoundedQueue(size_t capacity,
                        std::chrono::nanoseconds max_spin = kDefaultMaxSpin);
  ~BoundedQueue();

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Blocks while the queue is full. Returns false (and drops `item`) if the
  // queue is closed, including when Close() happens while blocked.
  bool Push(T item);

  // Never blocks. Returns false if the queue is full or closed; `item` is then
  // left untouched (not moved from).
  bool TryPush(T&& item);

  // Blocks while the queue is empty and open. Returns std::nullopt once the
  // queue is closed and every item pushed before Close() has been popped.
  std::optional<T> Pop();

  // Never blocks. std::nullopt if nothing is available right now (empty, or
  // the next item's producer is still writing it).
  std::optional<T> TryPop();

  // Like Pop(), but gives up after `timeout` and returns std::nullopt.
  std::optional<T> PopFor(std::chrono::nanoseconds timeout);

  // Refuses every later push and wakes all blocked pushers and poppers.
  // Idempotent. Items already queued stay poppable.
  void Close();

  bool closed() const {
    return (head_.load(std::memory_order_acquire) & kClosedBit) != 0;
  }
  size_t capacity() const { return capacity_; }
  // Approximate under concurrency; exact when quiescent. In [0, capacity()].
  size_t size() const;

  // Threads currently registered as sleeping (or about to sleep) in Push,
  // Pop or PopFor. For tests that need "the waiter is blocked" without
  // sleeping: once this counts a thread, Close() or a push/pop must wake it.
  size_t num_waiters_for_testing() const {
    return not_empty_.waiters.load() + not_full_.waiters.load();
  }

 private:
  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;
  static constexpr size_t kCacheLine = 64;

  struct alignas(kCacheLine) Slot {
    // Even 2*lap: free for the push of lap `lap`; odd 2*lap+1: holds the item
    // of lap `lap`.
    std::atomic<uint64_t> turn{0};
    alignas(T) unsigned char storage[sizeof(T)];
    T* item() { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  // An epoch word to sleep on plus the count of threads sleeping (or about
  // to) on it. Owned by one side each, on its own cache line.
  struct alignas(kCacheLine) WaitSet {
    std::atomic<uint32_t> epoch{0};
    std::atomic<uint32_t> waiters{0};
  };

  size_t Index(uint64_t pos) const {
    return pow2_ ? pos & mask_ : pos % capacity_;
  }
  uint64_t Lap(uint64_t pos) const {
    return pow2_ ? pos >> shift_ : pos / capacity_;
  }
  // What a blocked pusher / popper waits for: its next TryPushImpl /
  // TryPopImpl could succeed, or the queue closed (drained, for poppers).
  // They read the same slot turn the waker stores, which is what makes the
  // waiter-count handshake in Await / WakeOne free of lost wake-ups.
  bool PushReady() const;
  bool PopReady() const;

  // Lock-free attempts. TryPushImpl moves from `item` only on success.
  bool TryPushImpl(T& item);
  std::optional<T> TryPopImpl();

  // True once closed and every claimed push position has been popped.
  bool Drained() const;

  // Wakes one sleeper of `ws` if any is registered.
  static void WakeOne(WaitSet& ws);
  static void WakeAll(WaitSet& ws);

  // Wake-ups owed after a successful push / pop.
  void AfterPush() { WakeOne(not_empty_); }
  void AfterPop();

  // Sleeps on `ws` unless `ready()` holds after registering. `deadline` is
  // absolute (steady_clock); nullptr = no timeout. Returns false on timeout.
  template <typename Ready>
  static bool Await(WaitSet& ws, Ready ready,
                    const std::chrono::steady_clock::time_point* deadline);

  // Re-checks `ready()` for up to max_spin_ (and not past `deadline`, if
  // given), pausing then yielding in between.
  template <typename Ready>
  bool Spin(Ready ready,
            const std::chrono::steady_clock::time_point* deadline) const;

  std::optional<T> PopUntil(
      const std::chrono::steady_clock::time_point* deadline);

  const size_t capacity_;
  const bool pow2_;       // capacity_ is a power of two
  const uint64_t mask_;   // capacity_ - 1
  const unsigned shift_;  // log2(capacity_) when a power of two
  const std::chrono::nanoseconds max_spin_;
  std::unique_ptr<Slot[]> slots_;

  alignas(kCacheLine) std::atomic<uint64_t> head_{0};  // next push; + kClosedBit
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};  // next pop
  WaitSet not_empty_;  // poppers sleep here
  WaitSet not_full_;   // pushers sleep here
};

// ---------------------------------------------------------------------------
// Implementation.

namespace concurrency_internal {
inline bool IsPowerOfTwo(size_t n) { return n != 0 && (n & (n - 1)) == 0; }
inline unsigned Log2(size_t n) {
  unsigned s = 0;
  while ((size_t{1} << s) < n) ++s;
  return s;
}
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace concurrency_internal

template <typename T>
BoundedQueue<T>::BoundedQueue(size_t capacity,
                              std::chrono::nanoseconds max_spin)
    : capacity_(capacity == 0 ? 1 : capacity),
      pow2_(concurrency_internal::IsPowerOfTwo(capacity_)),
      mask_(capacity_ - 1),
      shift_(concurrency_internal::Log2(capacity_)),
      max_spin_(max_spin),
      slots_(new Slot[capacity_]) {}

template <typename T>
BoundedQueue<T>::~BoundedQueue() {
  while (TryPopImpl()) {
  }
}

template <typename T>
bool BoundedQueue<T>::TryPushImpl(T& item) {
  uint64_t head = head_.load(std::memory_order_seq_cst);
  for (;;) {
    if (head & kClosedBit) return false;
    Slot& slot = slots_[Index(head)];
    if (slot.turn.load(std::memory_order_seq_cst) == 2 * Lap(head)) {
      if (head_.compare_exchange_strong(head, head + 1,
                                        std::memory_order_seq_cst)) {
        ::new (static_cast<void*>(slot.storage)) T(std::move(item));
        slot.turn.store(2 * Lap(head) + 1, std::memory_order_seq_cst);
        return true;
      }
      // CAS failure reloaded `head`; retry.
    } else {
      const uint64_t prev = head;
      head = head_.load(std::memory_order_seq_cst);
      if (head == prev) return false;  // full
    }
  }
}

template <typename T>
std::optional<T> BoundedQueue<T>::TryPopImpl() {
  uint64_t tail = tail_.load(std::memory_order_seq_cst);
  for (;;) {
    Slot& slot = slots_[Index(tail)];
    if (slot.turn.load(std::memory_order_seq_cst) == 2 * Lap(tail) + 1) {
      if (tail_.compare_exchange_strong(tail, tail + 1,
                                        std::memory_order_seq_cst)) {
        std::optional<T> out(std::move(*slot.item()));
        slot.item()->~T();
        slot.turn.store(2 * Lap(tail) + 2, std::memory_order_seq_cst);
        return out;
      }
    } else {
      const uint64_t prev = tail;
      tail = tail_.load(std::memory_order_seq_cst);
      if (tail == prev) return std::nullopt;  // empty (or item in flight)
    }
  }
}

template <typename T>
bool BoundedQueue<T>::Drained() const {
  const uint64_t head = head_.load(std::memory_order_seq_cst);
  if ((head & kClosedBit) == 0) return false;
  return tail_.load(std::memory_order_seq_cst) >= (head & ~kClosedBit);
}

template <typename T>
bool BoundedQueue<T>::PushReady() const {
  const uint64_t head = head_.load(std::memory_order_seq_cst);
  if (head & kClosedBit) return true;
  return slots_[Index(head)].turn.load(std::memory_order_seq_cst) ==
         2 * Lap(head);
}

template <typename T>
bool BoundedQueue<T>::PopReady() const {
  const uint64_t tail = tail_.load(std::memory_order_seq_cst);
  if (slots_[Index(tail)].turn.load(std::memory_order_seq_cst) ==
      2 * Lap(tail) + 1) {
    return true;
  }
  return Drained();
}

template <typename T>
size_t BoundedQueue<T>::size() const {
  // tail never passes head, and head only grows, so reading tail first keeps
  // the difference non-negative.
  const uint64_t tail = tail_.load(std::memory_order_seq_cst);
  const uint64_t head = head_.load(std::memory_order_seq_cst) & ~kClosedBit;
  const uint64_t n = head - tail;
  return n > capacity_ ? capacity_ : static_cast<size_t>(n);
}

template <typename T>
void BoundedQueue<T>::WakeOne(WaitSet& ws) {
  // Pairs with the waiters.fetch_add in Await: the caller's seq_cst store
  // that made progress (slot turn) precedes this seq_cst load, so either the
  // sleeper's re-check sees the progress or we see the sleeper.
  if (ws.waiters.load(std::memory_order_seq_cst) == 0) return;
  ws.epoch.fetch_add(1, std::memory_order_seq_cst);
  FutexWake(&ws.epoch, 1);
}

template <typename T>
void BoundedQueue<T>::WakeAll(WaitSet& ws) {
  ws.epoch.fetch_add(1, std::memory_order_seq_cst);
  FutexWakeAll(&ws.epoch);
}

template <typename T>
void BoundedQueue<T>::AfterPop() {
  WakeOne(not_full_);
  // After Close(), sleeping poppers wait for "drained", which a pop (not a
  // push) makes true, and every one of them must see it: wake them all. The
  // waiter count is read after our seq_cst tail CAS, so a popper whose
  // PopReady() missed that CAS is counted here (same handshake as WakeOne).
  if (not_empty_.waiters.load(std::memory_order_seq_cst) != 0 && closed()) {
    WakeAll(not_empty_);
  }
}

template <typename T>
template <typename Ready>
bool BoundedQueue<T>::Spin(
    Ready ready, const std::chrono::steady_clock::time_point* deadline) const {
  if (max_spin_.count() <= 0) return false;
  // First a burst of CPU pauses (the other side is usually running on the
  // other core), then yields, so that on an oversubscribed machine the
  // spinner hands its core to the thread it is waiting for. The clock is
  // read once per kBatch tries only.
  constexpr int kBatch = 16;
  constexpr int kPauseBatches = 2;
  auto stop = std::chrono::steady_clock::now() + max_spin_;
  if (deadline != nullptr && *deadline < stop) stop = *deadline;
  for (int batch = 0;; ++batch) {
    for (int i = 0; i < kBatch; ++i) {
      if (batch < kPauseBatches) {
        concurrency_internal::CpuRelax();
      } else {
        std::this_thread::yield();
      }
      if (ready()) return true;
    }
    if (std::chrono::steady_clock::now() >= stop) return false;
  }
}

template <typename T>
template <typename Ready>
bool BoundedQueue<T>::Await(
    WaitSet& ws, Ready ready,
    const std::chrono::steady_clock::time_point* deadline) {
  // Register first, then read the epoch, then re-check: a waker that made
  // progress after our re-check sees waiters > 0 and bumps the epoch, so the
  // futex wait below returns at once instead of sleeping through it.
  ws.waiters.fetch_add(1, std::memory_order_seq_cst);
  const uint32_t epoch = ws.epoch.load(std::memory_order_seq_cst);
  bool ok = true;
  if (!ready()) ok = FutexWait(&ws.epoch, epoch, deadline);
  ws.waiters.fetch_sub(1, std::memory_order_seq_cst);
  return ok;
}

template <typename T>
bool BoundedQueue<T>::TryPush(T&& item) {
  if (!TryPushImpl(item)) return false;
  AfterPush();
  return true;
}

template <typename T>
bool BoundedQueue<T>::Push(T item) {
  for (;;) {
    if (TryPushImpl(item)) {
      AfterPush();
      return true;
    }
    if (closed()) return false;
    // "Ready" = a push might now succeed: not full, or closed.
    auto ready = [this] { return PushReady(); };
    if (!Spin(ready, nullptr)) Await(not_full_, ready, nullptr);
  }
}

template <typename T>
std::optional<T> BoundedQueue<T>::PopUntil(
    const std::chrono::steady_clock::time_point* deadline) {
  for (;;) {
    if (std::optional<T> out = TryPopImpl()) {
      AfterPop();
      return out;
    }
    if (Drained()) return std::nullopt;
    auto ready = [this] { return PopReady(); };
    if (!Spin(ready, deadline) && !Await(not_empty_, ready, deadline)) {
      // Timed out; one last attempt so an item that raced the timeout is
      // not reported as absent.
      std::optional<T> out = TryPopImpl();
      if (out) AfterPop();
      return out;
    }
  }
}

template <typename T>
std::optional<T> BoundedQueue<T>::Pop() {
  return PopUntil(nullptr);
}

template <typename T>
std::optional<T> BoundedQueue<T>::PopFor(std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  return PopUntil(&deadline);
}

template <typename T>
std::optional<T> BoundedQueue<T>::TryPop() {
  std::optional<T> out = TryPopImpl();
  if (out) AfterPop();
  return out;
}

template <typename T>
void BoundedQueue<T>::Close() {
  head_.fetch_or(kClosedBit, std::memory_order_seq_cst);
  WakeAll(not_empty_);
  WakeAll(not_full_);
}

}  // namespace brisk

#endif  // BRISK_CONCURRENCY_BOUNDED_QUEUE_H_
