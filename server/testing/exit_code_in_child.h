// ExitCodeInChild: runs a test's body in a forked child, for what belongs to
// the whole process (its pending signals, its open-file limit, its
// standard descriptors), so the test binary is left as it was.
//
//   EXPECT_EQ(ExitCodeInChild([] { ...; return ok ? 0 : 3; }), 0);
//
// One test thread; fork before the test starts threads of its own.
#ifndef BRISK_SERVER_TESTING_EXIT_CODE_IN_CHILD_H_
#define BRISK_SERVER_TESTING_EXIT_CODE_IN_CHILD_H_

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "gtest/gtest.h"

namespace brisk::testing {

// Runs `body` in a forked child and returns the child's exit code: what
// `body` returned. -1, with a test failure, if the child did not exit.
template <typename Body>
int ExitCodeInChild(Body body) {
  const pid_t child = fork();
  if (child < 0) {
    ADD_FAILURE() << "fork: errno " << errno;
    return -1;
  }
  if (child == 0) _exit(body());
  int status = 0;
  if (waitpid(child, &status, 0) != child) {
    ADD_FAILURE() << "waitpid: errno " << errno;
    return -1;
  }
  if (!WIFEXITED(status)) {
    ADD_FAILURE() << "the child did not exit: "
                  << (WIFSIGNALED(status) ? "killed by signal " : "status ")
                  << (WIFSIGNALED(status) ? WTERMSIG(status) : status);
    return -1;
  }
  return WEXITSTATUS(status);
}

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_EXIT_CODE_IN_CHILD_H_
