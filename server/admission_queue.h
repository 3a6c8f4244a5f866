// AdmissionQueue: the bounded queue of offloaded requests waiting for a
// worker, with CoDel-style queue timeouts and adaptive LIFO, as described in
// "Fail at Scale" (Maurer, ACM Queue 2015) and used by Facebook's servers.
//
//   AdmissionQueue<std::shared_ptr<Call>> q({.capacity = 1024});
//   if (!q.TryPush(call, now)) { /* full: answer 503 + Retry-After */ }
//   ...on a worker:
//   std::vector<AdmissionQueue<std::shared_ptr<Call>>::Item> expired;
//   auto next = q.Pop(now, &expired);
//   // reject every item in `expired` (503), run `next` if any.
//
// The rules (all times are passed in by the caller, so tests control them):
//  - A standing queue exists when the queue has not been drained at any
//    moment of the last `interval` (default 100 ms). Drained means emptied by
//    service (or found empty); a queue emptied by expiring items (or by
//    RemoveFirst: requests withdrawn while queued) is still standing,
//    otherwise shedding itself would end the overload state and flip the
//    queue back to FIFO with the long timeout.
//    Hysteresis: the queue also counts as standing for one `interval` after
//    the last expired item, so a momentary drain in the middle of an
//    overload (a hiccup of the arrivals) does not send it back to FIFO with
//    the long timeout for a whole interval.
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
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace brisk {

struct AdmissionOptions {
  size_t capacity = 1024;
  std::chrono::nanoseconds target = std::chrono::milliseconds(5);
  std::chrono::nanoseconds interval = std::chrono::milliseconds(100);
  bool adaptive_lifo = true;
};

struct AdmissionStats {
  uint64_t admitted = 0;
  uint64_t rejected_full = 0;
  uint64_t expired = 0;
  uint64_t lifo_pops = 0;
};

template <typename T>
class AdmissionQueue {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::nanoseconds;

  using Options = AdmissionOptions;
  using Stats = AdmissionStats;

  // One queued unit of work. `payload` is opaque to the queue.
  struct Item {
    T payload;
    TimePoint enqueued{};
  };

  explicit AdmissionQueue(Options options)
      : options_(options),
        last_empty_(TimePoint::min()),
        last_shed_(TimePoint::min()) {}

  // Adds `payload` unless the queue holds `capacity` items (returns false;
  // `payload` is left untouched so the caller can still answer with it).
  bool TryPush(T& payload, TimePoint now);

  // Takes the next item to run, or nullopt when none is left. Items whose
  // queue timeout passed are appended to `expired` (oldest first).
  std::optional<Item> Pop(TimePoint now, std::vector<Item>* expired);

  // Removes the first queued item whose payload satisfies `pred`; false if
  // none does. Its place is free at once (a linear scan: for items whose
  // request went away while queued).
  template <typename Pred>
  bool RemoveFirst(Pred pred) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = items_.begin(); it != items_.end(); ++it) {
      if (pred(it->payload)) {
        items_.erase(it);
        // Emptied by a withdrawal (the request expired at its deadline, or
        // its client left, while queued), not drained by service: the
        // overload goes on, as when shedding empties it.
        if (items_.empty()) emptied_by_shedding_ = true;
        return true;
      }
    }
    return false;
  }

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
  // The last moment the queue was seen drained (see above).
  TimePoint last_empty_ ABSL_GUARDED_BY(mu_);
  // The queue is empty because the last Pop expired everything in it.
  bool emptied_by_shedding_ ABSL_GUARDED_BY(mu_) = false;
  // The last moment an item expired.
  TimePoint last_shed_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

// Implementation.



template <typename T>
bool AdmissionQueue<T>::StandingLocked(TimePoint now) const {
  if (items_.empty()) return false;
  return now - last_empty_ > options_.interval ||
         (last_shed_ != TimePoint::min() &&
          now - last_shed_ <= options_.interval);
}

template <typename T>
bool AdmissionQueue<T>::Standing(TimePoint now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return StandingLocked(now);
}

template <typename T>
bool AdmissionQueue<T>::TryPush(T& payload,
                             TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (items_.size() >= options_.capacity) {
    ++stats_.rejected_full;
    return false;
  }
  // The queue was drained until this very moment (unless shedding emptied
  // it: then the overload goes on).
  if (items_.empty() && !emptied_by_shedding_) last_empty_ = now;
  emptied_by_shedding_ = false;
  items_.push_back(Item{std::move(payload), now});
  ++stats_.admitted;
  return true;
}

template <typename T>
std::optional<typename AdmissionQueue<T>::Item> AdmissionQueue<T>::Pop(
    TimePoint now, std::vector<Item>* expired) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool standing = StandingLocked(now);
  const Duration timeout = standing ? options_.target : options_.interval;
  bool shed = false;
  while (!items_.empty() && now - items_.front().enqueued > timeout) {
    expired->push_back(std::move(items_.front()));
    items_.pop_front();
    ++stats_.expired;
    shed = true;
    last_shed_ = now;
  }
  if (items_.empty()) {
    if (shed) {
      emptied_by_shedding_ = true;
    } else if (!emptied_by_shedding_) {
      last_empty_ = now;
    }
    return std::nullopt;
  }
  Item item;
  if (standing && options_.adaptive_lifo) {
    item = std::move(items_.back());
    items_.pop_back();
    ++stats_.lifo_pops;
  } else {
    item = std::move(items_.front());
    items_.pop_front();
  }
  if (items_.empty()) {
    if (shed) {
      emptied_by_shedding_ = true;
    } else {
      last_empty_ = now;  // drained by service
    }
  }
  return item;
}

template <typename T>
size_t AdmissionQueue<T>::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.size();
}

template <typename T>
AdmissionStats AdmissionQueue<T>::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace brisk

#endif  // BRISK_SERVER_ADMISSION_QUEUE_H_
