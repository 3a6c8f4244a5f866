#include "server/route_table.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace brisk::internal {

absl::Status RouteTable::Add(Route route) {
  if (static_cast<int>(static_cast<bool>(route.handler)) +
          static_cast<int>(static_cast<bool>(route.async)) +
          static_cast<int>(static_cast<bool>(route.batch)) !=
      1) {
    return absl::InvalidArgumentError("a route needs exactly one handler");
  }
  if (route.options.deadline.count() < 0) {
    return absl::InvalidArgumentError("deadline must be >= 0 (0: the server's)");
  }
  if (route.options.max_concurrency < 0) {
    return absl::InvalidArgumentError("max_concurrency must be >= 0 (0: no limit)");
  }
  if (route.batch) {
    const BatchOptions& b = route.batch_options;
    if (b.policy != BatchOptions::Policy::kDeadline && b.policy != BatchOptions::Policy::kFixed) {
      return absl::InvalidArgumentError("policy must be kDeadline or kFixed");
    }
    if (b.max_batch < 1 || b.max_batch > BatchOptions::kMaxBatch) {
      return absl::InvalidArgumentError(
          "max_batch must be in [1, " + std::to_string(BatchOptions::kMaxBatch) + "]");
    }
    if (b.expected_fixed_cost.count() < 0 || b.expected_per_item_cost.count() < 0) {
      return absl::InvalidArgumentError("expected batch costs must be >= 0");
    }
    if (b.max_delay.count() < 0) {
      return absl::InvalidArgumentError("max_delay must be >= 0 (0: no cap)");
    }
    if (b.policy == BatchOptions::Policy::kFixed && b.max_delay.count() <= 0) {
      return absl::InvalidArgumentError("the fixed batch policy needs max_delay > 0");
    }
    if (route.options.run_inline) {
      return absl::InvalidArgumentError("a batch route cannot run inline");
    }
  }
  // An inline synchronous handler runs on the reactor as its request is
  // read: no admission, no deadline. Options that would only hold for it
  // through admission are refused rather than silently ignored.
  if (route.handler && route.options.run_inline &&
      (route.options.deadline.count() != 0 || route.options.max_concurrency != 0 ||
       route.options.expected_service_time.count() != 0 || route.options.service_time_hint)) {
    return absl::InvalidArgumentError(
        "an inline synchronous route has no admission and no deadline: deadline, "
        "max_concurrency, expected_service_time and service_time_hint do not apply (offload it, "
        "or make it async)");
  }
  // An inline async handler starts on the reactor as its request is read:
  // it has its deadline, but no queue, so no admission by concurrency or
  // learned cost (refused, as above, rather than ignored).
  if (route.async && route.options.run_inline &&
      (route.options.max_concurrency != 0 || route.options.expected_service_time.count() != 0 ||
       route.options.service_time_hint)) {
    return absl::InvalidArgumentError(
        "an inline async route starts on the reactor, with no admission: max_concurrency, "
        "expected_service_time and service_time_hint do not apply (offload it to have them)");
  }
  if (route.options.run_inline && route.options.background) {
    return absl::InvalidArgumentError(
        "a route runs inline (on the reactor) or in the background lane, not both");
  }
  absl::Status s = router_.Add(route.method, route.pattern, routes_.size());
  if (!s.ok()) return s;
  size_t index = 0;
  while (index < names_.size() && names_[index] != route.pattern) ++index;
  if (index == names_.size()) names_.push_back(route.pattern);
  metrics_index_.push_back(index);
  any_body_limit_ = any_body_limit_ || route.options.max_body_bytes > 0;
  routes_.push_back(std::move(route));
  return absl::OkStatus();
}

absl::Status RouteTable::QuietAccessLog(std::string_view pattern) {
  bool found = false;
  for (Route& route : routes_) {
    if (route.pattern != pattern) continue;
    route.options.access_log = false;
    found = true;
  }
  if (found) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "access_log_quiet_paths: no route has the pattern \"", std::string(pattern), "\""));
}

}  // namespace brisk::internal
