// LazyBytes: a byte string that holds no memory while empty.
//
// For bytes that are rarely there but must be kept when they are: input that
// arrived while a connection was not reading, say. It costs one pointer (8
// bytes) while empty, where a std::string costs 32; the bytes are allocated
// on the first append and freed as soon as they are taken or cleared, so
// nothing stays reserved after a burst.
//
// Thread-safety: none (one owner, like std::string).
#ifndef BRISK_NET_LAZY_BYTES_H_
#define BRISK_NET_LAZY_BYTES_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace brisk::net {

class LazyBytes {
 public:
  bool empty() const { return bytes_ == nullptr; }
  size_t size() const { return bytes_ == nullptr ? 0 : bytes_->size(); }

  void append(std::string_view data) {
    if (data.empty()) return;
    if (bytes_ == nullptr) bytes_ = std::make_unique<std::string>();
    bytes_->append(data);
  }
  // Empties it and frees the memory.
  void clear() { bytes_.reset(); }
  // The bytes, leaving it empty (and holding no memory).
  std::string Take() {
    if (bytes_ == nullptr) return std::string();
    std::string out = std::move(*bytes_);
    bytes_.reset();
    return out;
  }

 private:
  std::unique_ptr<std::string> bytes_;  // null while empty
};

}  // namespace brisk::net

#endif  // BRISK_NET_LAZY_BYTES_H_
