// Internal: how long and how much a lingering close reads and drops (RFC 9112
// §9.6). A server that closes while the client is still sending leaves
// unread bytes in the socket, and the kernel then resets the connection: the
// reset can destroy an answer the client has not read yet (a 413, a
// closing answer with requests pipelined behind it, the 400 to plain HTTP on
// the TLS port). So such a close first sends FIN after the answer, then
// reads and drops what arrives until the client's FIN, a time limit or a
// byte limit, whichever is first, and only then closes.
#ifndef BRISK_SERVER_LINGER_H_
#define BRISK_SERVER_LINGER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace brisk::internal {

inline constexpr std::chrono::seconds kLingerTimeout{2};
// Enough for a client that writes a body of many megabytes past a 413
// before it reads (no Expect: 100-continue), as nginx's lingering close
// (30 s) allows; reading and dropping 64 MiB costs ~10 ms of CPU.
inline constexpr size_t kMaxLingerBytes = size_t{64} << 20;
static_assert(kMaxLingerBytes < (size_t{1} << 32), "fits LingerBytes' count");

// What a lingering close has read and dropped (4 bytes: the HTTP connection
// keeps it in every idle connection's object).
class LingerBytes {
 public:
  // Counts `n` more bytes dropped; false if they take the total past
  // kMaxLingerBytes: the close should happen now (a reset).
  bool Drop(size_t n) {
    if (n > kMaxLingerBytes - dropped_) return false;
    dropped_ += static_cast<uint32_t>(n);
    return true;
  }

 private:
  uint32_t dropped_ = 0;
};

}  // namespace brisk::internal

#endif  // BRISK_SERVER_LINGER_H_
