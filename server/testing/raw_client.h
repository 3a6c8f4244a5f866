// A blocking raw-bytes HTTP client for tests: connect to 127.0.0.1, send
// exactly the bytes given, read responses one by one. Every read has a
// receive timeout (a guard against a hung test, not a timing assertion).
#ifndef BRISK_SERVER_TESTING_RAW_CLIENT_H_
#define BRISK_SERVER_TESTING_RAW_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace brisk::testing {

struct RawResponse {
  int status = 0;
  std::string head;  // status line + headers
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

class RawClient {
 public:
  // `receive_buffer` > 0: SO_RCVBUF, set before connecting (a slow reader).
  // Shrinking it after the connection advertised a larger window makes the
  // kernel drop data it already let in (RcvPruned); the sender then
  // retransmits with exponential backoff, stalling a transfer for seconds.
  explicit RawClient(uint16_t port,
                     std::chrono::milliseconds guard = std::chrono::seconds(20),
                     int receive_buffer = 0);
  virtual ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // Sends all of `bytes`; false if the connection broke.
  bool Send(std::string_view bytes);
  // Reads one response (Content-Length, chunked, or ended by close; for a
  // HEAD request pass head=true; an interim 1xx is a response of its own).
  // nullopt on a malformed response or on EOF/error/timeout before a full
  // one.
  std::optional<RawResponse> Read(bool head = false);
  // True if the server closed the connection (EOF or reset) with no further
  // bytes, waiting up to the guard time.
  bool WaitClosed();
  // Bytes received but not yet returned by Read().
  const std::string& pending() const { return buf_; }
  void ShutdownWrite();
  // Aborts the connection: SO_LINGER 0 and close, so the server's socket
  // gets a reset (a client that left), not an end of input (a FIN, which
  // says only that the client sends no more).
  void Reset();

 protected:
  // How bytes travel (a TLS client encrypts and decrypts here). Receive:
  // > 0 bytes, 0 when the peer closed, < 0 on error or timeout (errno).
  virtual ssize_t Receive(char* buf, size_t size);
  // All of `bytes`; false if the connection broke.
  virtual bool Transmit(std::string_view bytes);
  // The socket itself.
  ssize_t ReceiveFromSocket(char* buf, size_t size);
  bool SendToSocket(std::string_view bytes);

 private:
  enum class FillResult { kData, kEof, kError };
  FillResult Fill();  // one Receive() into buf_ (kError: also a timeout)
  int fd_ = -1;
  std::string buf_;
};

// Convenience: a GET for `target` with Host, optionally Connection: close.
std::string Get(std::string_view target, bool close = false);

}  // namespace brisk::testing

#endif  // BRISK_SERVER_TESTING_RAW_CLIENT_H_
