// IoBuffer: a byte buffer between a socket and a parser/serializer. One
// contiguous readable region followed by a writable tail:
//
//   [ consumed | readable() ........ | writable tail ...... ]
//   0          read_pos_             write_pos_              capacity
//
//   IoBuffer in({.max_capacity = 64 * 1024});
//   IoBuffer::ReadResult r = in.ReadFrom(fd);   // until EAGAIN or a cap
//   if (r.status == IoBuffer::kError) ...;
//   size_t used = parser.Feed(in.readable());
//   in.Consume(used);
//
//   IoBuffer out;
//   out.Append("HTTP/1.1 200 OK\r\n...");
//   IoBuffer::WriteResult w = out.WriteTo(fd);  // until EAGAIN or empty
//   if (!out.empty()) loop->Modify(fd, kReadable | kWritable);
//
// Memory: grows geometrically up to `max_capacity` and is reused: when the
// tail is too small it first compacts (moves the unread bytes to the front)
// if that makes room, and only then reallocates. Consuming everything resets
// both positions to 0 for free. For zero-copy reads into the tail (or readv),
// use PrepareWrite()/Commit().
//
// Thread-safety: none; one owner (a connection on its loop thread).
// WriteTo uses send(MSG_NOSIGNAL) on sockets (no SIGPIPE), write() otherwise.
#ifndef BRISK_NET_IO_BUFFER_H_
#define BRISK_NET_IO_BUFFER_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/types/span.h"

namespace brisk::net {

struct IoBufferOptions {
  size_t initial_capacity = 4096;  // allocated on first use
  size_t max_capacity = 1 << 20;   // readable + tail never exceed this
};

class IoBuffer {
 public:
  enum ReadStatus {
    kWouldBlock,   // EAGAIN: read everything available.
    kEof,          // Peer closed (read returned 0). `bytes` may be > 0.
    kCapReached,   // Stopped at the per-call cap; more may be available.
    kBufferFull,   // max_capacity reached; consume before reading more.
    kError,        // errno in `error`.
  };
  struct ReadResult {
    size_t bytes = 0;
    ReadStatus status = kWouldBlock;
    int error = 0;
  };
  struct WriteResult {
    size_t bytes = 0;
    bool would_block = false;  // EAGAIN with bytes left: wait for kWritable.
    int error = 0;             // errno (EPIPE, ECONNRESET, ...) or 0.
  };

  explicit IoBuffer(IoBufferOptions options = {}) : options_(options) {}
  IoBuffer(IoBuffer&&) = default;
  IoBuffer& operator=(IoBuffer&&) = default;

  std::string_view readable() const {
    return std::string_view(data_.get() + read_pos_, write_pos_ - read_pos_);
  }
  size_t size() const { return write_pos_ - read_pos_; }
  bool empty() const { return size() == 0; }
  size_t capacity() const { return capacity_; }
  size_t max_capacity() const { return options_.max_capacity; }

  // Drops the first `n` readable bytes (n > size() drops all).
  void Consume(size_t n);
  void Clear() { read_pos_ = write_pos_ = 0; }

  // Appends `data`; false (and nothing appended) if it would exceed
  // max_capacity.
  bool Append(std::string_view data);

  // A writable tail of at least `min_bytes` (compacting or growing as
  // needed), or an empty span if max_capacity forbids. Fill it, then
  // Commit(bytes actually written).
  absl::Span<char> PrepareWrite(size_t min_bytes);
  absl::Span<char> tail() {
    return absl::Span<char>(data_.get() + write_pos_, capacity_ - write_pos_);
  }
  void Commit(size_t n) { write_pos_ += n; }

  // read() from `fd` into the tail until EAGAIN, EOF, error, the buffer is
  // full, or `max_bytes` were read in this call. EINTR is retried.
  ReadResult ReadFrom(int fd, size_t max_bytes = static_cast<size_t>(-1));
  // Writes readable bytes to `fd` until empty, EAGAIN or an error, consuming
  // what was written. Partial writes are handled; EINTR is retried.
  WriteResult WriteTo(int fd);

 private:
  bool Reserve(size_t min_tail);

  IoBufferOptions options_;
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t read_pos_ = 0;
  size_t write_pos_ = 0;
};

}  // namespace brisk::net

#endif  // BRISK_NET_IO_BUFFER_H_
