// Internal: the timeouts of a reactor's connections (header, idle, write,
// linger) on one loop timer. Each connection keeps its place in a binary
// min-heap inside itself (a TimerSlot: due time and heap index), so an idle
// connection's timeout costs 8 bytes of heap and 16 in the connection,
// instead of a loop timer of its own (a heap entry, a hash-map slot and a
// callback: ~110 bytes each with 8,000 connections). The loop timer is set
// for the earliest due time; when it fires, every due connection is popped
// and told, in due order.
//
//   ConnectionTimers<Conn, &Conn::slot_, &Conn::OnTimer> timers(loop);
//   timers.Schedule(conn, due);  // arms, or moves an armed one
//   timers.Cancel(conn);         // no-op if not armed
//
// The entries due when the loop timer fires are taken out first, then told
// one by one: a callback may Schedule or Cancel any entry (one it cancels
// or reschedules is not told in this pass; one rescheduled at or before
// now is told in a later loop iteration, never in a loop within this one).
// An entry's destructor must Cancel it, and an entry must not be destroyed
// while the timers are firing (connections are destroyed by a posted
// task). Loop thread only.
#ifndef BRISK_SERVER_CONNECTION_TIMERS_H_
#define BRISK_SERVER_CONNECTION_TIMERS_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "net/event_loop.h"

namespace brisk::internal {

struct TimerSlot {
  static constexpr int32_t kIdle = -1;
  static constexpr int32_t kFiring = -2;  // taken out, to be told this pass
  net::TimePoint due{};
  int32_t index = kIdle;  // in the heap, or kIdle, or kFiring
  bool armed() const { return index >= 0; }
};

template <typename T, TimerSlot T::*kSlot, void (T::*kFire)()>
class ConnectionTimers {
 public:
  explicit ConnectionTimers(net::EventLoop* loop) : loop_(*loop) {}
  ~ConnectionTimers() {
    if (loop_timer_ != net::kInvalidTimerId) loop_.Cancel(loop_timer_);
  }
  ConnectionTimers(const ConnectionTimers&) = delete;
  ConnectionTimers& operator=(const ConnectionTimers&) = delete;

  void Schedule(T* entry, net::TimePoint due) {
    TimerSlot& slot = entry->*kSlot;
    if (slot.armed()) {
      const net::TimePoint old = slot.due;
      slot.due = due;
      if (due < old) {
        SiftUp(static_cast<size_t>(slot.index));
      } else {
        SiftDown(static_cast<size_t>(slot.index));
      }
    } else {
      slot.due = due;
      slot.index = static_cast<int32_t>(heap_.size());
      heap_.push_back(entry);
      SiftUp(heap_.size() - 1);
    }
    Arm();
  }

  void Cancel(T* entry) {
    TimerSlot& slot = entry->*kSlot;
    if (!slot.armed()) {
      slot.index = TimerSlot::kIdle;  // also: not told in the current pass
      return;
    }
    const size_t i = static_cast<size_t>(slot.index);
    slot.index = TimerSlot::kIdle;
    T* last = heap_.back();
    heap_.pop_back();
    if (i < heap_.size()) {
      Place(i, last);
      SiftDown(i);
      SiftUp(static_cast<size_t>((last->*kSlot).index));
    }
    // The loop timer is left set: it finds nothing or a later entry due.
  }

  size_t size() const { return heap_.size(); }

 private:
  static net::TimePoint Due(const T* e) { return (e->*kSlot).due; }
  void Place(size_t i, T* e) {
    heap_[i] = e;
    (e->*kSlot).index = static_cast<int32_t>(i);
  }
  void SiftUp(size_t i) {
    T* e = heap_[i];
    while (i > 0) {
      const size_t parent = (i - 1) / 2;
      if (!(Due(e) < Due(heap_[parent]))) break;
      Place(i, heap_[parent]);
      i = parent;
    }
    Place(i, e);
  }
  void SiftDown(size_t i) {
    T* e = heap_[i];
    const size_t n = heap_.size();
    for (;;) {
      size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && Due(heap_[child + 1]) < Due(heap_[child])) ++child;
      if (!(Due(heap_[child]) < Due(e))) break;
      Place(i, heap_[child]);
      i = child;
    }
    Place(i, e);
  }
  // Sets the loop timer for the earliest entry unless one is set no later.
  void Arm() {
    if (heap_.empty()) return;
    const net::TimePoint due = Due(heap_.front());
    if (loop_timer_ != net::kInvalidTimerId) {
      if (loop_due_ <= due) return;
      loop_.Cancel(loop_timer_);
    }
    loop_due_ = due;
    loop_timer_ = loop_.RunAt(due, [this] { Fire(); });
  }
  void Fire() {
    loop_timer_ = net::kInvalidTimerId;
    const net::TimePoint now = loop_.Now();
    std::vector<T*> due;
    while (!heap_.empty() && Due(heap_.front()) <= now) {
      T* e = heap_.front();
      Cancel(e);
      (e->*kSlot).index = TimerSlot::kFiring;
      due.push_back(e);
    }
    for (T* e : due) {
      TimerSlot& slot = e->*kSlot;
      if (slot.index != TimerSlot::kFiring) continue;  // cancelled or moved
      slot.index = TimerSlot::kIdle;
      (e->*kFire)();
    }
    Arm();
  }

  net::EventLoop& loop_;
  std::vector<T*> heap_;
  net::TimerId loop_timer_ = net::kInvalidTimerId;
  net::TimePoint loop_due_{};
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_CONNECTION_TIMERS_H_
