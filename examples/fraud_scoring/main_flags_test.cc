// The fraud_server binary's own flags: a value out of range exits with
// status 2 and a message naming the flag, before the model loads or
// anything listens (README, "Flags").
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

struct Exit {
  int status = -1;  // exit status, or -1 if killed or not run
  std::string stderr_text;
};

// Runs the binary (a data dependency) with `flags`; it must exit by itself.
Exit RunBinary(const std::vector<std::string>& flags) {
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return {};
  std::vector<std::string> args = {"examples/fraud_scoring/fraud_server",
                                   "--model=examples/fraud_scoring/model.json",
                                   "--address=127.0.0.1", "--port=0"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    alarm(30);  // a binary that starts serving instead of exiting
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err[1]);
  Exit e;
  char buf[512];
  for (ssize_t n; (n = read(err[0], buf, sizeof(buf))) > 0;) e.stderr_text.append(buf, n);
  close(err[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    e.status = WEXITSTATUS(status);
  }
  return e;
}

TEST(FraudServerFlagsTest, OutOfRangeValuesExitTwoNamingTheFlag) {
  const struct {
    std::vector<std::string> flags;
    std::string says;
  } cases[] = {
      {{"--max_batch=0"}, "--max_batch must be in [1, 1048576]"},
      // Above the largest batch a route takes: refused with the flags,
      // not later as "start: INVALID_ARGUMENT: max_batch ..." (exit 1).
      {{"--max_batch=1048577"}, "--max_batch must be in [1, 1048576]"},
      {{"--max_delay=-1ms"}, "--max_delay must be >= 0"},
      {{"--batching=sometimes"}, "--batching must be"},
      // A fixed batch that waits as long as the deadline: every request
      // short of a full batch would be refused.
      {{"--batching=fixed", "--max_delay=5s"}, "--max_delay must be shorter than --request_deadline"},
      {{"--batching=fixed", "--max_delay=inf", "--request_deadline=inf"},
       "--max_delay must be shorter than --request_deadline"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flags.back());
    const Exit e = RunBinary(c.flags);
    EXPECT_EQ(e.status, 2) << e.stderr_text;
    EXPECT_NE(e.stderr_text.find(c.says), std::string::npos) << e.stderr_text;
  }
}

}  // namespace
