// The fraud_server binary's own flags: a value out of range exits with
// status 2 and a message naming the flag, before the model loads or
// anything listens (README, "Flags").
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace {

struct Exit {
  int status = -1;  // exit status, or -1 if killed or not run
  std::string first_line;  // of its stdout
  std::string stderr_text;
};

// Runs `args` (args[0]: the binary) in `cwd`. `serving`: once the binary
// has written its first stdout line ("listening on ..."), or exited, it is
// sent SIGTERM; else it must exit by itself.
Exit RunIn(std::vector<std::string> args, const std::string& cwd, bool serving) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return {};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    alarm(30);  // one that serves when it should exit, or never says so
    if (chdir(cwd.c_str()) != 0) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Exit e;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') e.first_line += c;
  if (serving && pid > 0) kill(pid, SIGTERM);
  char buf[512];
  for (ssize_t n; (n = read(err[0], buf, sizeof(buf))) > 0;) e.stderr_text.append(buf, n);
  close(out[0]);
  close(err[0]);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    e.status = WEXITSTATUS(status);
  }
  return e;
}

// Runs the binary (a data dependency) with `flags`; it must exit by itself.
Exit RunBinary(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"examples/fraud_scoring/fraud_server",
                                   "--model=examples/fraud_scoring/model.json",
                                   "--address=127.0.0.1", "--port=0"};
  args.insert(args.end(), flags.begin(), flags.end());
  return RunIn(std::move(args), ".", /*serving=*/false);
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
      {{"--batching=fixed", "--max_delay=5s"},
       "--max_delay (5s) must be shorter than --request_deadline"},
      {{"--batching=fixed", "--max_delay=inf", "--request_deadline=inf"},
       "--max_delay (inf) must be shorter than --request_deadline"},
      // --max_delay not given: the fixed policy's 1 ms, which the message
      // names rather than blaming a flag the user never set.
      {{"--batching=fixed", "--request_deadline=1ms"},
       "--max_delay (1ms, as 0 or unset) must be shorter than --request_deadline"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flags.back());
    const Exit e = RunBinary(c.flags);
    EXPECT_EQ(e.status, 2) << e.stderr_text;
    EXPECT_NE(e.stderr_text.find(c.says), std::string::npos) << e.stderr_text;
  }
}

std::string CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream(to, std::ios::binary) << in.rdbuf();
  chmod(to.c_str(), mode);
  return to;
}

// Without --model, a copy of the binary deployed beside its model.json
// finds it from any working directory; without one there it exits 1
// saying where it looked and that --model names another file.
TEST(FraudServerFlagsTest, TheDefaultModelIsFoundNextToTheBinary) {
  const std::string root = ::testing::TempDir() + "/deployed";
  const std::string elsewhere = ::testing::TempDir() + "/elsewhere";
  mkdir(root.c_str(), 0755);
  mkdir(elsewhere.c_str(), 0755);
  const std::string binary =
      CopyFile("examples/fraud_scoring/fraud_server", root + "/fraud_server", 0755);
  std::remove((root + "/model.json").c_str());
  const std::vector<std::string> args = {binary, "--address=127.0.0.1", "--port=0"};
  Exit e = RunIn(args, elsewhere, /*serving=*/true);
  EXPECT_EQ(e.first_line, "");
  EXPECT_EQ(e.status, 1);
  EXPECT_NE(e.stderr_text.find("model: NOT_FOUND"), std::string::npos) << e.stderr_text;
  EXPECT_NE(e.stderr_text.find("next to the binary"), std::string::npos) << e.stderr_text;
  EXPECT_NE(e.stderr_text.find("pass --model=PATH"), std::string::npos) << e.stderr_text;

  CopyFile("examples/fraud_scoring/model.json", root + "/model.json", 0644);
  e = RunIn(args, elsewhere, /*serving=*/true);
  EXPECT_NE(e.first_line.find("listening on"), std::string::npos) << e.stderr_text;
  EXPECT_EQ(e.status, 0) << e.stderr_text;  // SIGTERM: a clean drain

  // A --model that is given is used as given, even the default's path.
  e = RunIn(
      {binary, "--model=examples/fraud_scoring/model.json", "--address=127.0.0.1", "--port=0"},
      elsewhere, /*serving=*/true);
  EXPECT_EQ(e.status, 1);
  EXPECT_NE(e.stderr_text.find("model: NOT_FOUND"), std::string::npos) << e.stderr_text;
  EXPECT_EQ(e.stderr_text.find("pass --model=PATH"), std::string::npos) << e.stderr_text;
}

}  // namespace
