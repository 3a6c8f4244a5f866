// CreateIoUringLoop() where io_uring_setup(2) fails, as under a container's
// default seccomp profile (EPERM) or a kernel built without io_uring
// (ENOSYS): a FailedPrecondition naming the call and the reason, never a
// crash (the server's --io=io_uring start fails with it, exit 1). The
// refusal is a seccomp filter in a forked child, so the test process keeps
// io_uring.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "net/io_uring_loop.h"

namespace brisk::net {
namespace {

// In the child: io_uring_setup fails with `error`; every other call runs.
bool RefuseIoUringSetup(int error) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),  // another ABI: leave it
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<uint32_t>(error)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
                               filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) == 0;
}

// CreateIoUringLoop()'s message in a child where io_uring_setup fails with
// `error`; "OK" if it succeeded there.
std::string MessageWithoutIoUring(int error) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string message = "seccomp refused";
    if (RefuseIoUringSetup(error)) {
      absl::StatusOr<std::unique_ptr<EventLoop>> loop = CreateIoUringLoop();
      message = loop.ok() ? "OK" : loop.status().ToString();
    }
    (void)!write(pipe_fds[1], message.data(), message.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof(buf))) > 0;) message.append(buf, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) message += " (the child died)";
  return message;
}

#if defined(__x86_64__)
TEST(IoUringUnavailableTest, SetupRefusedIsAFailedPreconditionSayingSo) {
  EXPECT_EQ(MessageWithoutIoUring(ENOSYS),
            "FAILED_PRECONDITION: io_uring_setup: Function not implemented (io_uring is "
            "disabled on this system)");
  EXPECT_EQ(MessageWithoutIoUring(EPERM),
            "FAILED_PRECONDITION: io_uring_setup: Operation not permitted (io_uring is "
            "disabled on this system)");
  EXPECT_EQ(MessageWithoutIoUring(ENOMEM),
            "FAILED_PRECONDITION: io_uring_setup: Cannot allocate memory");
}
#endif

}  // namespace
}  // namespace brisk::net
