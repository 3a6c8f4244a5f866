// fraud_scoring: a real-time fraud-scoring service on brisk. It takes every
// flag of the brisk server (see the root README) plus the batching ones:
//
//   tools/bazel run //examples/fraud_scoring:fraud_server -- --port=8080
//   curl -d '{"features": [120.5, 4.79, 3, 0.2, 12, 400, 2, 0, 1, 800]}'
//     localhost:8080/score
//   curl localhost:8080/model
//
// --batching=deadline (default) | fixed | off; --max_batch; --max_delay (the
// cap for deadline, the wait for fixed). Clients state their budget with
// X-Request-Budget-Ms (e.g. 10).
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "examples/fraud_scoring/scoring_service.h"
#include "examples/fraud_scoring/transaction.h"
#include "server/flags.h"
#include "server/http_server.h"

// The package's model, from the repository's root.
constexpr char kDefaultModel[] = "examples/fraud_scoring/model.json";

ABSL_FLAG(std::string, model, "",
          "XGBoost model file (JSON; UBJSON and binary load too), used as given; "
          "objective binary:logistic or reg:logistic. Empty: the package's "
          "model.json (examples/fraud_scoring/model.json from the working "
          "directory, else model.json next to the binary, else in the "
          "binary's Bazel runfiles).");
ABSL_FLAG(std::string, batching, "deadline",
          "deadline (deadline-aware batching), fixed (wait --max_delay for "
          "--max_batch, as Triton) or off (one request at a time).");
ABSL_FLAG(int32_t, max_batch, 32, "Largest batch, 1..1048576 (requests scored by one model call).");
ABSL_FLAG(absl::Duration, max_delay, absl::ZeroDuration(),
          "deadline: an optional cap on a request's wait for its batch (0 = "
          "none); fixed: how long to wait for a full batch (1ms when 0), "
          "shorter than --request_deadline. Never negative.");

namespace {

// The model file to load: --model as given (relative to the working
// directory), or without it the package's model.json: from the working
// directory (the repository's root, or bazel run's runfiles tree), then
// next to the binary (a copy deployed with its model), then in the
// binary's runfiles tree (bazel-bin/.../fraud_server run from anywhere);
// the first that exists, or the first as is (its load then says
// NOT_FOUND).
std::string ModelPath() {
  const std::string flag = absl::GetFlag(FLAGS_model);
  if (!flag.empty()) return flag;
  std::vector<std::string> candidates = {kDefaultModel};
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    const std::string binary(exe, static_cast<size_t>(n));
    const std::string dir = binary.substr(0, binary.rfind('/') + 1);
    candidates.push_back(dir + "model.json");
    candidates.push_back(binary + ".runfiles/brisk/" + kDefaultModel);
  }
  for (const std::string& path : candidates) {
    if (access(path.c_str(), R_OK) == 0) return path;
  }
  return kDefaultModel;
}

}  // namespace

int main(int argc, char** argv) {
  // First, before the model load starts any thread: a SIGHUP (reload) sent
  // while the model loads waits for the server instead of killing the
  // process; SIGPIPE ignored; the open-file limit raised.
  brisk::PrepareServerProcess();
  brisk::SetFlagsUsage(
      "fraud_scoring: POST /score, GET /model. Takes the brisk server's flags.\n"
      "  fraud_server --port=8080 [--model=PATH] [--batching=deadline|fixed|off]");
  absl::StatusOr<brisk::ServerOptions> options =
      brisk::ServerOptionsFromCommandLine(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "%s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  options->metrics_path = "/metrics";
  options->health_path = "/healthz";
  options->ready_path = "/readyz";

  using brisk::fraud_scoring::Batching;
  const std::string batching_flag = absl::GetFlag(FLAGS_batching);
  Batching batching;
  if (batching_flag == "deadline") {
    batching = Batching::kDeadline;
  } else if (batching_flag == "fixed") {
    batching = Batching::kFixed;
  } else if (batching_flag == "off") {
    batching = Batching::kOff;
  } else {
    std::fprintf(stderr, "--batching must be deadline, fixed or off\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_max_batch) < 1 ||
      static_cast<uint64_t>(absl::GetFlag(FLAGS_max_batch)) > brisk::BatchOptions::kMaxBatch) {
    std::fprintf(stderr, "--max_batch must be in [1, %zu]\n", brisk::BatchOptions::kMaxBatch);
    return 2;
  }
  if (absl::GetFlag(FLAGS_max_delay) < absl::ZeroDuration()) {
    std::fprintf(stderr, "--max_delay must be >= 0\n");
    return 2;
  }
  brisk::BatchOptions batch{
      .max_batch = static_cast<size_t>(absl::GetFlag(FLAGS_max_batch)),
      .max_delay = absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_max_delay))};
  if (batching == Batching::kFixed && batch.max_delay.count() <= 0) {
    batch.max_delay = std::chrono::milliseconds(1);
  }
  // A fixed batch short of --max_batch waits --max_delay: with that as long
  // as the deadline, every request that does not fill a batch would be
  // answered 503 at its deadline.
  if (batching == Batching::kFixed &&
      batch.max_delay >= options->request_deadline) {
    std::fprintf(stderr,
                 "--max_delay (%s) must be shorter than --request_deadline with "
                 "--batching=fixed (a batch short of --max_batch waits --max_delay)\n",
                 absl::GetFlag(FLAGS_max_delay) > absl::ZeroDuration()
                     ? absl::FormatDuration(absl::GetFlag(FLAGS_max_delay)).c_str()
                     : "1ms, as 0 or unset");
    return 2;
  }

  absl::StatusOr<std::unique_ptr<brisk::fraud_scoring::ScoringService>> service =
      brisk::fraud_scoring::ScoringService::Load(ModelPath());
  if (!service.ok()) {
    std::fprintf(stderr, "model: %s%s\n", service.status().ToString().c_str(),
                 absl::GetFlag(FLAGS_model).empty()
                     ? " (the default model was looked for from the working directory, next "
                       "to the binary and in its runfiles; pass --model=PATH)"
                     : "");
    return 1;
  }
  // A feature named like one of the body's own keys can be given only
  // positionally (README, "Requests").
  for (const std::string& name : (*service)->model().info().feature_names) {
    if (brisk::fraud_scoring::TransactionParser::IsReservedKey(name)) {
      std::fprintf(stderr,
                   "model: warning: feature \"%s\" has the name of a reserved "
                   "key; requests must give the features as the \"features\" "
                   "array (the named form cannot reach it)\n",
                   name.c_str());
    }
  }
  brisk::HttpServer server(*options);
  absl::Status s = (*service)->Register(server, batching, batch);
  if (s.ok()) s = server.Start();
  if (!s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%s\n", brisk::ListeningLine(*options, server.port()).c_str());
  std::fflush(stdout);
  s = server.Run();
  return s.ok() ? 0 : 1;
}
