#include "net/clock.h"

namespace brisk::net {

const SystemClock* SystemClock::Get() {
  static const SystemClock clock;
  return &clock;
}

}  // namespace brisk::net
