#include "server/worker_pool.h"

#include <utility>
#include <vector>

namespace brisk::internal {

WorkerPool::WorkerPool(int workers, size_t queue_capacity,
                       std::unique_ptr<AdmissionPolicy> policy,
                       WorkerDelegate* delegate, ServerMetrics* metrics)
    : policy_(std::move(policy)),
      delegate_(delegate),
      metrics_(metrics),
      // Workers sleep at once when idle (no spin): they share cores with the
      // reactors, whose latency matters more than a worker's wake-up time.
      pool_(workers, queue_capacity, std::chrono::nanoseconds(0)) {}

WorkerPool::~WorkerPool() { Shutdown(); }

std::optional<ShedReason> WorkerPool::Submit(Job job, SteadyTime now) {
  if (job.exchange != nullptr) job.exchange->set_enqueued(now);
  if (std::optional<ShedReason> refused = policy_->Admit(job, now)) {
    return refused;
  }
  metrics_->queue_depth.fetch_add(1, std::memory_order_relaxed);
  // One wake-up per queued job. If the pool's own queue is full, at least as
  // many wake-ups are pending as jobs are queued, so none is stranded.
  pool_.TryPost([this] { RunAvailable(); });
  return std::nullopt;
}

void WorkerPool::Shutdown() { pool_.Shutdown(); }

void WorkerPool::RunAvailable() {
  std::vector<Refusal> refused;
  for (;;) {
    const SteadyTime now = std::chrono::steady_clock::now();
    std::optional<Job> job = policy_->Next(now, &refused);
    for (Refusal& r : refused) {
      metrics_->queue_depth.fetch_sub(1, std::memory_order_relaxed);
      if (r.job.exchange->cancelled()) continue;  // answered already
      delegate_->Refuse(*r.job.exchange, r.reason);
    }
    refused.clear();
    if (!job) return;
    metrics_->queue_depth.fetch_sub(1, std::memory_order_relaxed);
    Exchange& exchange = *job->exchange;
    if (exchange.cancelled()) continue;  // answered at its deadline
    exchange.MarkStarted();
    metrics_->route(job->metrics_route).queue_wait.Observe(now - exchange.enqueued());
    delegate_->Run(exchange);
    const SteadyTime end = std::chrono::steady_clock::now();
    RouteMetrics& rm = metrics_->route(job->metrics_route);
    rm.handler.Observe(end - now);
    rm.worker_ns[static_cast<size_t>(exchange.outcome())].fetch_add(
        static_cast<uint64_t>((end - now).count()), std::memory_order_relaxed);
    policy_->Finished(*job, end - now, end);
    if (std::optional<AdmissionPolicy::Estimate> e =
            policy_->EstimateFor(job->route)) {
      rm.SetServiceEstimate(e->mean, e->deviation);
    }
  }
}

}  // namespace brisk::internal
