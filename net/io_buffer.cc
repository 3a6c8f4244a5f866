#include "net/io_buffer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace brisk::net {

void IoBuffer::Consume(size_t n) {
  read_pos_ += std::min(n, size());
  if (read_pos_ == write_pos_) read_pos_ = write_pos_ = 0;  // free rewind
}

bool IoBuffer::Reserve(size_t min_tail) {
  if (capacity_ - write_pos_ >= min_tail) return true;
  const size_t used = size();
  if (used + min_tail > options_.max_capacity) return false;
  // Compact in place when the consumed prefix gives enough room.
  if (capacity_ - used >= min_tail) {
    std::memmove(data_.get(), data_.get() + read_pos_, used);
    read_pos_ = 0;
    write_pos_ = used;
    return true;
  }
  size_t new_capacity = std::max<size_t>(capacity_ * 2, options_.initial_capacity);
  new_capacity = std::max(new_capacity, used + min_tail);
  new_capacity = std::min(new_capacity, options_.max_capacity);
  std::unique_ptr<char[]> bigger(new char[new_capacity]);
  if (used > 0) std::memcpy(bigger.get(), data_.get() + read_pos_, used);
  data_ = std::move(bigger);
  capacity_ = new_capacity;
  read_pos_ = 0;
  write_pos_ = used;
  return true;
}

bool IoBuffer::Append(std::string_view data) {
  if (data.empty()) return true;
  if (!Reserve(data.size())) return false;
  std::memcpy(data_.get() + write_pos_, data.data(), data.size());
  write_pos_ += data.size();
  return true;
}

absl::Span<char> IoBuffer::PrepareWrite(size_t min_bytes) {
  if (!Reserve(std::max<size_t>(min_bytes, 1))) return {};
  return tail();
}

IoBuffer::ReadResult IoBuffer::ReadFrom(int fd, size_t max_bytes) {
  ReadResult r;
  while (r.bytes < max_bytes) {
    // Ask for a reasonable chunk so the buffer grows geometrically, but
    // settle for whatever room max_capacity leaves.
    size_t want = std::max<size_t>(options_.initial_capacity, 1);
    if (capacity_ - write_pos_ == 0 && !Reserve(want)) {
      if (!Reserve(1)) {
        r.status = kBufferFull;
        return r;
      }
    }
    size_t room = std::min(capacity_ - write_pos_, max_bytes - r.bytes);
    ssize_t n = ::read(fd, data_.get() + write_pos_, room);
    if (n > 0) {
      write_pos_ += static_cast<size_t>(n);
      r.bytes += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      r.status = kEof;
      return r;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      r.status = kWouldBlock;
    } else {
      r.status = kError;
      r.error = errno;
    }
    return r;
  }
  r.status = kCapReached;
  return r;
}

IoBuffer::WriteResult IoBuffer::WriteTo(int fd) {
  WriteResult w;
  bool is_socket = true;
  while (!empty()) {
    std::string_view data = readable();
    ssize_t n = is_socket ? ::send(fd, data.data(), data.size(), MSG_NOSIGNAL)
                          : ::write(fd, data.data(), data.size());
    if (n >= 0) {
      Consume(static_cast<size_t>(n));
      w.bytes += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == ENOTSOCK && is_socket) {
      is_socket = false;  // a pipe or file: plain write()
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      w.would_block = true;
    } else {
      w.error = errno;
    }
    return w;
  }
  return w;
}

}  // namespace brisk::net
