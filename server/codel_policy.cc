#include "server/codel_policy.h"

#include <utility>

namespace brisk::internal {

namespace {

class CodelPolicy final : public AdmissionPolicy {
 public:
  explicit CodelPolicy(AdmissionOptions options) : queue_(options) {}

  std::optional<ShedReason> Admit(Job& job, SteadyTime now) override {
    if (!queue_.TryPush(job, now)) return ShedReason::kQueueFull;
    return std::nullopt;
  }

  std::optional<Job> Next(SteadyTime now,
                          std::vector<Refusal>* refused) override {
    std::vector<AdmissionQueue<Job>::Item> expired;  // allocates only if used
    std::optional<AdmissionQueue<Job>::Item> item = queue_.Pop(now, &expired);
    for (auto& e : expired) {
      refused->push_back(Refusal{std::move(e.payload), ShedReason::kCodel});
    }
    if (!item) return std::nullopt;
    return std::move(item->payload);
  }

  void Finished(const Job&, std::chrono::nanoseconds, SteadyTime) override {}

  bool Withdraw(size_t, SteadyTime, uintptr_t key) override {
    return queue_.RemoveFirst([key](const Job& job) { return JobKey(job) == key; });
  }

  size_t queued() const override { return queue_.size(); }

 private:
  AdmissionQueue<Job> queue_;
};

}  // namespace

std::unique_ptr<AdmissionPolicy> MakeCodelPolicy(AdmissionOptions options) {
  return std::make_unique<CodelPolicy>(options);
}

}  // namespace brisk::internal
