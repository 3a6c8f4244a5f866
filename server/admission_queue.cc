#include "server/admission_queue.h"

#include <utility>

namespace brisk {

AdmissionQueue::AdmissionQueue(Options options)
    : options_(options), last_empty_(TimePoint::min()) {}

bool AdmissionQueue::StandingLocked(TimePoint now) const {
  if (items_.empty()) return false;
  return now - last_empty_ > options_.interval;
}

bool AdmissionQueue::Standing(TimePoint now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return StandingLocked(now);
}

bool AdmissionQueue::TryPush(absl::AnyInvocable<void()>& payload,
                             TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (items_.size() >= options_.capacity) {
    ++stats_.rejected_full;
    return false;
  }
  // The queue was empty until this very moment.
  if (items_.empty()) last_empty_ = now;
  items_.push_back(Item{std::move(payload), now});
  ++stats_.admitted;
  return true;
}

std::optional<AdmissionQueue::Item> AdmissionQueue::Pop(
    TimePoint now, std::vector<Item>* expired) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool standing = StandingLocked(now);
  const Duration timeout = standing ? options_.target : options_.interval;
  while (!items_.empty() && now - items_.front().enqueued > timeout) {
    expired->push_back(std::move(items_.front()));
    items_.pop_front();
    ++stats_.expired;
  }
  if (items_.empty()) {
    last_empty_ = now;
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
  if (items_.empty()) last_empty_ = now;
  return item;
}

size_t AdmissionQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.size();
}

AdmissionQueue::Stats AdmissionQueue::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace brisk
