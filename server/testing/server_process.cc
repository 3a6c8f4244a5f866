#include "server/testing/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace brisk::testing {

ServerProcess::ServerProcess(std::vector<std::string> flags, const std::string& stderr_path,
                             int open_files, std::function<void(pid_t)> on_spawn) {
  int out[2];
  if (pipe(out) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    if (!stderr_path.empty()) {
      const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) {
        dup2(err, STDERR_FILENO);
        close(err);
      }
    }
    if (open_files > 0) {
      const rlimit files{static_cast<rlim_t>(open_files), static_cast<rlim_t>(open_files)};
      if (setrlimit(RLIMIT_NOFILE, &files) != 0) _exit(126);
    }
    std::vector<char*> argv;
    // The test names it (env BRISK_SERVER = $(rootpath :server): right
    // also when brisk is another workspace's dependency).
    const char* named = std::getenv("BRISK_SERVER");
    std::string bin = named != nullptr && *named != '\0' ? named : "server/server";
    argv.push_back(bin.data());
    for (auto& f : flags) argv.push_back(f.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  if (on_spawn && pid_ > 0) on_spawn(pid_);
  out_ = fdopen(out[0], "r");
  char line[256];
  while (out_ != nullptr && fgets(line, sizeof(line), out_) != nullptr) {
    for (const char* scheme : {"http", "https"}) {
      const std::string prefix = std::string("listening on ") + scheme + "://";
      const std::string_view text(line);
      if (text.substr(0, prefix.size()) != prefix) continue;
      const std::string_view authority = text.substr(prefix.size());
      const size_t colon = authority.rfind(':');
      if (colon == std::string_view::npos) continue;
      scheme_ = scheme;
      host_ = std::string(authority.substr(0, colon));
      port_ = static_cast<uint16_t>(std::atoi(line + prefix.size() + colon + 1));
    }
    if (port_ != 0) break;
  }
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_ != nullptr) fclose(out_);
}

void ServerProcess::Signal(int signo) { kill(pid_, signo); }

void ServerProcess::CloseStdout() {
  if (out_ != nullptr) fclose(out_);
  out_ = nullptr;
}

int ServerProcess::Wait() {
  for (int i = 0; i < 3000; ++i) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

}  // namespace brisk::testing
