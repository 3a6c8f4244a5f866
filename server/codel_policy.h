// Internal: the CoDel + adaptive LIFO admission policy ("Fail at Scale",
// Maurer 2015) over AdmissionQueue: a bounded FIFO whose queue timeout drops
// to `target` while a standing queue exists, served newest-first then.
// Deadlines play no part in its decisions (a request's own deadline is still
// enforced by the reactor's timer). Selected with --admission=codel. It
// learns each route's handler and answer times as the deadline policy does,
// for /metrics (brisk_service_time_estimate_seconds) only.
#ifndef BRISK_SERVER_CODEL_POLICY_H_
#define BRISK_SERVER_CODEL_POLICY_H_

#include <memory>

#include "server/admission.h"
#include "server/admission_queue.h"

namespace brisk::internal {

std::unique_ptr<AdmissionPolicy> MakeCodelPolicy(AdmissionOptions options);

}  // namespace brisk::internal

#endif  // BRISK_SERVER_CODEL_POLICY_H_
