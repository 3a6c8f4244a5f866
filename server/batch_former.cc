#include "server/batch_former.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "server/exchange.h"

namespace brisk::internal {

using std::chrono::nanoseconds;

BatchFormer::BatchFormer(BatchFormerOptions options)
    : options_(options),
      cost_(options.expected_fixed_cost, options.expected_per_item_cost),
      // Quick to follow the load (a time constant of ~100 ms): batches grow
      // and shrink with it.
      arrivals_(std::chrono::milliseconds(50), 0.5) {}

void BatchFormer::Add(Job job, SteadyTime now, int running) {
  arrivals_.Add(now);
  const double found = (running > 0 || !pending_.empty()) ? 1.0 : 0.0;
  found_company_ += (found - found_company_) / 8;
  if (job.client != 0) {
    Client& c = clients_[job.client];
    if (c.outstanding++ == 0) ++clients_waiting_;
    c.last_sent = now;
    constexpr std::chrono::milliseconds kForget(1000);
    if (now - clients_pruned_ >= kForget / 4) {
      clients_pruned_ = now;
      absl::erase_if(clients_, [&](const auto& entry) {
        return entry.second.outstanding == 0 && now - entry.second.last_sent >= kForget;
      });
    }
  }
  auto pos = pending_.end();
  while (pos != pending_.begin() && std::prev(pos)->deadline > job.deadline) {
    --pos;
  }
  pending_.insert(pos, std::move(job));
}

size_t BatchFormer::PendingDueBy(SteadyTime deadline) const {
  return static_cast<size_t>(QueuedDueBy(pending_, deadline) - pending_.cbegin());
}

bool BatchFormer::Remove(SteadyTime deadline, uintptr_t key) {
  const std::optional<Job> job = TakeQueuedJob(pending_, deadline, key);
  if (!job.has_value()) return false;
  Release(job->client);
  return true;
}

void BatchFormer::Release(uintptr_t client) {
  if (client == 0) return;
  const auto it = clients_.find(client);
  if (it == clients_.end() || it->second.outstanding == 0) return;
  if (--it->second.outstanding == 0) --clients_waiting_;
}

void BatchFormer::Ran(const std::vector<Job>& members) {
  for (const Job& m : members) Release(m.client);
}

double BatchFormer::NeededBatch(SteadyTime now, int workers) {
  return NeededFor(arrivals_.PerSecond(now), workers);
}

double BatchFormer::NeededFor(double per_second, int workers) const {
  // Per worker: arrivals L (per ns), batch cost a + b*n; a worker stays at
  // utilisation u when L * (a + b*n) / n = u, i.e. n = L*a / (u - L*b).
  const double per_ns = per_second / 1e9 / std::max(1, workers);
  const double a = Ns(cost_.fixed());
  const double b = Ns(cost_.per_item());
  const double room = options_.target_utilization - per_ns * b;
  if (room <= 0) return static_cast<double>(options_.max_batch);
  return per_ns * a / room;
}

bool BatchFormer::CompanyComes() const {
  // The rate rule asks a member to wait only when batches of one would
  // keep a worker busy at least target_utilization of the time. Arrivals
  // independent of the service find the route busy about as often as that
  // (Poisson arrivals see time averages), or more with several workers; if
  // fewer than half as many do, arrivals wait on the answers (one client
  // sending its next request after the last answer: every 3rd request of
  // such a client, 50 ms each on one worker, waited ~100 ms more for a
  // company that never came). Several such clients find company (all but
  // the first after their answers), but once each has a request here no
  // one is left to send (a batch of N waited ~33 ms for an (N+1)th at
  // 50 ms handlers). Requests whose client is unknown count as some.
  const bool someone_may_send = clients_.empty() || clients_.size() > clients_waiting_;
  return someone_may_send && found_company_ >= options_.target_utilization / 2;
}

SteadyTime BatchFormer::OldestArrival() const {
  return std::min_element(pending_.begin(), pending_.end(),
                          [](const Job& x, const Job& y) { return x.arrival < y.arrival; })
      ->arrival;
}

bool BatchFormer::Ready(SteadyTime now, int workers) {
  if (pending_.empty()) return false;
  const size_t n = std::min(pending_.size(), options_.max_batch);
  if (n >= options_.max_batch) return true;
  const SteadyTime oldest = OldestArrival();
  if (options_.policy == BatchFormerOptions::Policy::kFixed) {
    return now >= oldest + options_.max_delay;
  }
  if (options_.max_delay.count() > 0 && now >= oldest + options_.max_delay) {
    return true;
  }
  // Waiting any longer would make the earliest deadline miss.
  if (now + cost_.Cost(n) + options_.margin >= pending_.front().deadline) {
    return true;
  }
  // As large as the load needs: a lone request under light load goes now,
  // and so does one that no company will join.
  return !CompanyComes() || static_cast<double>(n) >= NeededBatch(now, workers);
}

SteadyTime BatchFormer::ReadyAt(SteadyTime now, int workers) const {
  if (pending_.empty()) return SteadyTime::max();
  const SteadyTime oldest = OldestArrival();
  if (options_.policy == BatchFormerOptions::Policy::kFixed) {
    return oldest + options_.max_delay;
  }
  const size_t n = std::min(pending_.size(), options_.max_batch);
  if (n >= options_.max_batch || !CompanyComes()) return now;
  SteadyTime at = pending_.front().deadline - cost_.Cost(n) - options_.margin;
  if (options_.max_delay.count() > 0) at = std::min(at, oldest + options_.max_delay);
  // Or when the arrival rate, falling while nobody comes, no longer needs
  // a larger batch: the company it waited for is not coming. (A lone
  // arrival can raise the rate above what one needs as its window closes,
  // just after it came.)
  at = std::min(at, arrivals_.When(now, [&](double per_second) {
    return static_cast<double>(n) >= NeededFor(per_second, workers);
  }));
  return std::max(at, now);
}

std::vector<Job> BatchFormer::Take(SteadyTime now, std::vector<Refusal>* refused) {
  // Drop what is gone or cannot finish even alone, from the front (the
  // earliest deadlines); the first survivor's deadline bounds the batch.
  // Half the margin is the close's own allowance: a batch that waited for
  // company until its deadline rule closed it (Ready: the cost and the
  // whole margin left) is taken a little after that by the worker woken
  // for it, and with the whole margin asked here its lone member was
  // always refused, with most of its budget unused (outside review: 6 of
  // 15 sequential requests, 50 ms each with 120 ms budgets, refused at
  // 69 ms). The other half still covers the answer's way home.
  const nanoseconds kept_margin = options_.margin - options_.margin / 2;
  while (!pending_.empty()) {
    Job& front = pending_.front();
    const bool gone = front.exchange != nullptr && front.exchange->cancelled();
    // A probe runs although the cost model says it will be late: it is
    // there to measure that cost again.
    if (!gone && (front.probe || front.deadline - now >= cost_.Cost(1) + kept_margin)) {
      break;
    }
    Release(front.client);
    refused->push_back(Refusal{std::move(front), ShedReason::kExpiredInQueue});
    pending_.pop_front();
  }
  std::vector<Job> batch;
  if (pending_.empty()) return batch;
  const nanoseconds budget = pending_.front().deadline - now - kept_margin;
  size_t n = std::min(pending_.size(), options_.max_batch);
  while (n > 1 && cost_.Cost(n) > budget) --n;  // all must finish in time
  batch.reserve(n);
  while (batch.size() < n && !pending_.empty()) {
    Job job = std::move(pending_.front());
    pending_.pop_front();
    if (job.exchange != nullptr && job.exchange->cancelled()) {
      Release(job.client);
      refused->push_back(Refusal{std::move(job), ShedReason::kExpiredInQueue});
      continue;
    }
    batch.push_back(std::move(job));
  }
  return batch;
}

void BatchFormer::Finished(size_t n, nanoseconds time, bool restart) {
  if (restart) cost_.Restart();
  cost_.Observe(n, time);
}

nanoseconds BatchFormer::PredictedService(size_t position, int workers) const {
  // Batches of max_batch ahead of this one share the route's workers.
  const size_t full_ahead = position / options_.max_batch;
  const size_t in_batch = position % options_.max_batch + 1;
  const nanoseconds ahead =
      cost_.Cost(options_.max_batch) * static_cast<int64_t>(full_ahead) /
      std::max(1, workers);
  return ahead + cost_.Cost(in_batch);
}

}  // namespace brisk::internal
