// LazyBytes: a byte string that holds no memory while empty.
//
// For bytes that are rarely there but must be kept when they are: input that
// arrived while a connection was not reading, say. It costs one pointer (8
// bytes) while empty, where a std::string costs 32; the bytes are allocated
// on the first append and freed as soon as they are taken or cleared, so
// nothing stays reserved after a burst. TakeFront() hands them over in
// pieces.
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
  bool empty() const { return held_ == nullptr; }
  size_t size() const { return held_ == nullptr ? 0 : held_->bytes.size() - held_->begin; }

  void append(std::string_view data) {
    if (data.empty()) return;
    if (held_ == nullptr) held_ = std::make_unique<Held>();
    held_->bytes.append(data);
  }
  // Empties it and frees the memory.
  void clear() { held_.reset(); }
  // The bytes, leaving it empty (and holding no memory).
  std::string Take() {
    if (held_ == nullptr) return std::string();
    std::string out =
        held_->begin == 0 ? std::move(held_->bytes) : held_->bytes.substr(held_->begin);
    held_.reset();
    return out;
  }
  // The first min(n, size()) bytes, leaving the rest. Amortized O(n), not
  // O(size()): taken bytes are passed over by an offset, and dropped from
  // the front only once they are more than half of what is held. For
  // handing a large backlog over in pieces.
  std::string TakeFront(size_t n) {
    if (n >= size()) return Take();
    std::string out = held_->bytes.substr(held_->begin, n);
    held_->begin += n;
    if (held_->begin > held_->bytes.size() / 2) {
      held_->bytes.erase(0, held_->begin);
      held_->begin = 0;
    }
    return out;
  }

 private:
  struct Held {
    std::string bytes;
    size_t begin = 0;  // bytes before it were taken by TakeFront()
  };
  std::unique_ptr<Held> held_;  // null while empty
};

}  // namespace brisk::net

#endif  // BRISK_NET_LAZY_BYTES_H_
