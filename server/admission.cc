#include "server/admission.h"

namespace brisk::internal {

std::string_view ShedReasonName(ShedReason reason) {
  switch (reason) {
    case ShedReason::kQueueFull: return "queue_full";
    case ShedReason::kPredictedLate: return "predicted_late";
    case ShedReason::kExpiredInQueue: return "expired_in_queue";
    case ShedReason::kCodel: return "codel";
    case ShedReason::kStandingQueue: return "standing_queue";
  }
  return "unknown";
}

}  // namespace brisk::internal
