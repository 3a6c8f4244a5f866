// AdmissionQueue: the bounded queue of offloaded requests waiting for a
// worker, with CoDel-style queue timeouts and adaptive LIFO, as described in
// "Fail at Scale" (Maurer, ACM Queue 2015) and used by Facebook's servers.
//
//   AdmissionQueue q({.capacity = 1024});
//   if (!q.TryPush(std::move(item), now)) { /* full: answer 503 + Retry-After */ }
//   ...on a worker:
//   std::vector<AdmissionQueue::Item> expired;
//   std::optional<AdmissionQueue::Item> next = q.Pop(now, &expired);
//   // reject every item in `expired` (503), run `next` if any.
//
// The rules (all times are passed in by the caller, so tests control them):
//  - A standing queue exists when the queue has not been empty at any moment
//    of the last `interval` (default 100 ms).
//  - Queue timeout: an item that has waited longer than `target` (default
//    5 ms) while a standing queue exists, or longer than `interval` otherwise,
//    is expired at the next Pop: it is handed back to be rejected instead of
//    being run. Expired items are always the oldest, taken from the front.
//  - Adaptive LIFO: while a standing queue exists, Pop takes the newest item
//    (the client most likely still within its budget); otherwise the oldest.
//
// The effect under overload: every admitted request waits at most `target`
// while the burst lasts, workers stay busy, and the excess is shed quickly
// rather than making every request late.
//
// Thread-safety: all methods may be called from any thread (one internal
// mutex; the critical sections are a few pointer moves).
#ifndef BRISK_SERVER_ADMISSION_QUEUE_H_
#define BRISK_SERVER_ADMISSION_QUEUE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"

namespace brisk {

class AdmissionQueue {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::nanoseconds;

  struct Options {
    size_t capacity = 1024;
    Duration target = std::chrono::milliseconds(5);
    Duration interval = std::chrono::milliseconds(100);
    bool adaptive_lifo = true;
  };

  // One queued unit of work. `payload` is opaque to the queue.
  struct Item {
    absl::AnyInvocable<void()> payload;
    TimePoint enqueued{};
  };

  struct Stats {
    uint64_t admitted = 0;
    uint64_t rejected_full = 0;
    uint64_t expired = 0;
    uint64_t lifo_pops = 0;
  };

  explicit AdmissionQueue(Options options);

  // Adds `payload` unless the queue holds `capacity` items (returns false;
  // `payload` is left untouched so the caller can still answer with it).
  bool TryPush(absl::AnyInvocable<void()>& payload, TimePoint now);

  // Takes the next item to run, or nullopt when none is left. Items whose
  // queue timeout passed are appended to `expired` (oldest first).
  std::optional<Item> Pop(TimePoint now, std::vector<Item>* expired);

  size_t size() const;
  size_t capacity() const { return options_.capacity; }
  // Whether a standing queue exists at `now` (LIFO mode).
  bool Standing(TimePoint now) const;
  Stats stats() const;

 private:
  bool StandingLocked(TimePoint now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable std::mutex mu_;
  std::deque<Item> items_ ABSL_GUARDED_BY(mu_);
  // The last moment the queue was seen empty.
  TimePoint last_empty_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brisk

#endif  // BRISK_SERVER_ADMISSION_QUEUE_H_
