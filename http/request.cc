#include "http/request.h"

#include <utility>

#include "http/ascii.h"

namespace brisk::http {

HeaderField Request::HeaderIterator::operator*() const {
  return HeaderField{
      std::string_view(base_ + field_->name.offset, field_->name.length),
      std::string_view(base_ + field_->value.offset, field_->value.length)};
}

void Request::MoveFrom(Request& other) noexcept {
  head_ = std::move(other.head_);
  fields_ = std::move(other.fields_);
  body_ = std::move(other.body_);
  method_ = other.method_;
  target_ = other.target_;
  path_ = other.path_;
  query_ = other.query_;
  authority_ = other.authority_;
  content_length_ = other.content_length_;
  version_minor_ = other.version_minor_;
  has_content_length_ = other.has_content_length_;
  chunked_ = other.chunked_;
  keep_alive_ = other.keep_alive_;
  expects_continue_ = other.expects_continue_;
  // What a default Request holds: the views of the one moved from pointed
  // into the buffer it gave away (the server still reads a handler's
  // request after the answer, for the access log).
  other.Clear();
}

void Request::Clear() noexcept {
  head_.clear();
  fields_.clear();
  body_.clear();
  method_ = target_ = path_ = query_ = authority_ = Span{};
  content_length_ = 0;
  version_minor_ = 1;
  has_content_length_ = false;
  chunked_ = false;
  keep_alive_ = true;
  expects_continue_ = false;
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const FieldSpan& f : fields_) {
    if (f.name.length == name.size() && EqualsIgnoreCase(View(f.name), name)) {
      return View(f.value);
    }
  }
  return std::nullopt;
}

Request::HeaderRange Request::headers() const {
  HeaderRange range;
  const FieldSpan* first = fields_.data();
  range.begin_ = HeaderIterator(head_.data(), first);
  range.end_ = HeaderIterator(head_.data(), first + fields_.size());
  range.size_ = fields_.size();
  return range;
}

}  // namespace brisk::http
