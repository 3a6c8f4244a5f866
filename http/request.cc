#include "http/request.h"

#include "http/ascii.h"

namespace brisk::http {

HeaderField Request::HeaderIterator::operator*() const {
  return HeaderField{
      std::string_view(base_ + field_->name.offset, field_->name.length),
      std::string_view(base_ + field_->value.offset, field_->value.length)};
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
