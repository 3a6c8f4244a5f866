// Test helper: runs the `server` binary (a data dependency of the test, at
// $BRISK_SERVER, else server/server in the runfiles) with the given flags, reads its stdout up to
// the "listening on http(s)://127.0.0.1:PORT" line, and kills it (SIGKILL)
// when destroyed unless it was reaped.
//
//   ServerProcess server({"--address=127.0.0.1", "--port=0"},
//                        /*stderr_path=*/dir + "/stderr.txt");
//   ASSERT_NE(server.port(), 0);
//   server.Signal(SIGTERM);
//   int status = server.Wait();
//
// One test thread.
#ifndef BRISK_SERVER_TESTING_SERVER_PROCESS_H_
#define BRISK_SERVER_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace brisk::testing {

class ServerProcess {
 public:
  // `stderr_path`: where the server's stderr goes (empty: inherited).
  // `open_files`: the server's RLIMIT_NOFILE, soft and hard (0: inherited).
  // `on_spawn`: called with the child's pid as soon as it is forked, before
  // the constructor waits for it to listen (another thread may signal it).
  explicit ServerProcess(std::vector<std::string> flags, const std::string& stderr_path = "",
                         int open_files = 0, std::function<void(pid_t)> on_spawn = nullptr);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // 0 if the server exited (or printed something else) before listening.
  uint16_t port() const { return port_; }
  // "http" or "https", and the host as printed ("127.0.0.1", "[::1]"),
  // from the "listening on SCHEME://HOST:PORT" line.
  const std::string& scheme() const { return scheme_; }
  const std::string& host() const { return host_; }
  void Signal(int signo);
  // Closes the read end of the server's stdout, as a reader that went away
  // (`server | head`) would: later writes there fail with EPIPE.
  void CloseStdout();
  // Waits for exit (guarded by 30 s); returns the wait status or -1.
  int Wait();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  FILE* out_ = nullptr;
  uint16_t port_ = 0;
  std::string scheme_;
  std::string host_;
};

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_SERVER_PROCESS_H_
