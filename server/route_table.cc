#include "server/route_table.h"

#include <utility>

namespace brisk::internal {

absl::Status RouteTable::Add(Route route) {
  if (static_cast<bool>(route.handler) == static_cast<bool>(route.async)) {
    return absl::InvalidArgumentError("a route needs exactly one handler");
  }
  absl::Status s = router_.Add(route.method, route.pattern, routes_.size());
  if (!s.ok()) return s;
  size_t index = 0;
  while (index < names_.size() && names_[index] != route.pattern) ++index;
  if (index == names_.size()) names_.push_back(route.pattern);
  metrics_index_.push_back(index);
  routes_.push_back(std::move(route));
  return absl::OkStatus();
}

}  // namespace brisk::internal
