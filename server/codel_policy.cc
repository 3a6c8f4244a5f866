#include "server/codel_policy.h"

#include <mutex>
#include <utility>
#include <vector>

#include "server/estimators.h"

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

  // The routes' times are learned as the deadline policy learns them (its
  // rules for cut-short and failed runs), for /metrics only: CoDel's
  // decisions do not use them.
  void Finished(const Job& job, std::chrono::nanoseconds handler_time, SteadyTime) override {
    if (handler_time.count() <= 0) return;  // it did not run
    const bool at_least = job.cut_short || job.failed;
    std::lock_guard<std::mutex> lock(mu_);
    Learned& l = Route(job.route);
    l.handler.Observe(handler_time, at_least);
    if (!job.answer_pending) l.to_answer.Observe(job.TimeToAnswer(handler_time), at_least);
  }

  void AnswerCame(size_t route, std::chrono::nanoseconds to_answer, bool cut_short,
                  SteadyTime) override {
    std::lock_guard<std::mutex> lock(mu_);
    Route(route).to_answer.Observe(to_answer, /*at_least=*/cut_short);
  }

  std::optional<Estimates> EstimatesFor(size_t route) override {
    std::lock_guard<std::mutex> lock(mu_);
    const Learned& l = Route(route);
    return Estimates{.handler = {l.handler.mean(), l.handler.deviation()},
                     .to_answer = {l.to_answer.mean(), l.to_answer.deviation()}};
  }

  bool Withdraw(size_t, SteadyTime, uintptr_t key) override {
    return queue_.RemoveFirst([key](const Job& job) { return JobKey(job) == key; });
  }

  size_t queued() const override { return queue_.size(); }

 private:
  struct Learned {
    ServiceEstimate handler;
    ServiceEstimate to_answer;
  };

  Learned& Route(size_t route) {
    if (learned_.size() <= route) learned_.resize(route + 1);
    return learned_[route];
  }

  AdmissionQueue<Job> queue_;
  std::mutex mu_;                 // guards learned_
  std::vector<Learned> learned_;  // per route id
};

}  // namespace

std::unique_ptr<AdmissionPolicy> MakeCodelPolicy(AdmissionOptions options) {
  return std::make_unique<CodelPolicy>(options);
}

}  // namespace brisk::internal
