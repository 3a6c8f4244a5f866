#include "http/conditional.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>

#include "http/ascii.h"

namespace brisk::http {
namespace {

// An entity-tag (RFC 9110 §8.8.3): its opaque tag (quotes included) and
// whether it is weak.
struct EntityTag {
  std::string_view opaque;
  bool weak = false;
};

bool IsEtagChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u != 0x7f);  // %x21 / %x23-7E / obs-text
}

// Parses an entity-tag at the start of `s` (advanced past it).
std::optional<EntityTag> TakeEntityTag(std::string_view* s) {
  EntityTag tag;
  std::string_view rest = *s;
  if (rest.size() >= 2 && rest[0] == 'W' && rest[1] == '/') {
    tag.weak = true;
    rest.remove_prefix(2);
  }
  if (rest.empty() || rest[0] != '"') return std::nullopt;
  size_t end = 1;
  while (end < rest.size() && rest[end] != '"') {
    if (!IsEtagChar(rest[end])) return std::nullopt;
    ++end;
  }
  if (end == rest.size()) return std::nullopt;  // no closing quote
  tag.opaque = rest.substr(0, end + 1);
  rest.remove_prefix(end + 1);
  *s = rest;
  return tag;
}

std::optional<EntityTag> ParseEntityTag(std::string_view s) {
  s = TrimOws(s);
  std::optional<EntityTag> tag = TakeEntityTag(&s);
  if (!tag.has_value() || !s.empty()) return std::nullopt;
  return tag;
}

enum class Compare { kStrong, kWeak };

// Whether the If-Match / If-None-Match fields named `name` match `current`
// (RFC 9110 §13.1.1, §13.1.2): "*" if a representation exists, else any
// listed tag equal to its entity tag. nullopt when there is no such field.
std::optional<bool> ListMatches(const Request& request, std::string_view name,
                                const Validators& current, Compare compare) {
  const std::optional<EntityTag> etag = ParseEntityTag(current.etag);
  bool present = false;
  bool matched = false;
  for (const HeaderField& f : request.headers()) {
    if (!EqualsIgnoreCase(f.name, name)) continue;
    present = true;
    std::string_view value = TrimOws(f.value);
    // #entity-tag: elements separated by commas and OWS (empty ones
    // ignored, RFC 9110 §5.6.1.2; not ForEachListElement: an opaque tag
    // may hold a comma); an element that is no entity tag ends the field's
    // list (it matches nothing). The grammar is "*" / #entity-tag, but
    // field lines may be combined into one list (§5.3) without changing
    // the meaning: a "*" element means "any current representation"
    // wherever it stands, on its own line or beside tags.
    while (!value.empty()) {
      if (value.front() == ',' || IsOws(value.front())) {
        value.remove_prefix(1);
        continue;
      }
      if (value.front() == '*') {
        value = TrimOws(value.substr(1));
        if (!value.empty() && value.front() != ',') break;
        matched = matched || current.exists;
        continue;
      }
      std::optional<EntityTag> tag = TakeEntityTag(&value);
      if (!tag.has_value()) break;
      if (etag.has_value() && tag->opaque == etag->opaque &&
          (compare == Compare::kWeak || (!tag->weak && !etag->weak))) {
        matched = true;
      }
      value = TrimOws(value);
      if (!value.empty() && value.front() != ',') break;
    }
  }
  if (!present) return std::nullopt;
  return matched;
}

// The date of the one field named `name`; nullopt when there is none, more
// than one, or it is not an HTTP-date (the field is then ignored).
std::optional<int64_t> SingleDate(const Request& request, std::string_view name,
                                  std::optional<int64_t> now) {
  std::optional<std::string_view> value;
  for (const HeaderField& f : request.headers()) {
    if (!EqualsIgnoreCase(f.name, name)) continue;
    if (value.has_value()) return std::nullopt;
    value = f.value;
  }
  if (!value.has_value()) return std::nullopt;
  return ParseHttpDate(*value, now);
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// The civil date and time of day `seconds` after the epoch (proleptic
// Gregorian; H. Hinnant's civil_from_days), for `seconds` in [0, year 9999].
struct CivilTime {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
  int64_t time;    // seconds into the day
};

CivilTime CivilFromSeconds(int64_t seconds) {
  const int64_t z = seconds / 86400 + 719468;
  const int64_t era = z / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (month <= 2), month, doy - (153 * mp + 2) / 5 + 1,
          seconds % 86400};
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// A cursor over a date's text.
class DateReader {
 public:
  explicit DateReader(std::string_view s) : s_(s) {}
  bool Literal(std::string_view lit) {
    if (s_.substr(0, lit.size()) != lit) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  // Exactly `n` digits.
  std::optional<int> Digits(size_t n) {
    if (s_.size() < n) return std::nullopt;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!IsDigit(s_[i])) return std::nullopt;
      v = v * 10 + (s_[i] - '0');
    }
    s_.remove_prefix(n);
    return v;
  }
  // One of `names` (case-sensitive, RFC 9110 §5.6.7); its index.
  template <size_t N>
  std::optional<int> OneOf(const std::array<std::string_view, N>& names) {
    for (size_t i = 0; i < N; ++i) {
      if (Literal(names[i])) return static_cast<int>(i);
    }
    return std::nullopt;
  }
  bool done() const { return s_.empty(); }

 private:
  std::string_view s_;
};

constexpr std::array<std::string_view, 12> kMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                   "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};

// time-of-day = hour ":" minute ":" second (second 60: a leap second).
std::optional<int64_t> TimeOfDay(DateReader& r) {
  const std::optional<int> h = r.Digits(2);
  if (!h.has_value() || *h > 23 || !r.Literal(":")) return std::nullopt;
  const std::optional<int> m = r.Digits(2);
  if (!m.has_value() || *m > 59 || !r.Literal(":")) return std::nullopt;
  const std::optional<int> s = r.Digits(2);
  if (!s.has_value() || *s > 60) return std::nullopt;
  return *h * 3600 + *m * 60 + *s;
}

std::optional<int64_t> Seconds(int64_t year, int month0, int day, int64_t time) {
  static constexpr std::array<int, 12> kMonthDays = {31, 28, 31, 30, 31, 30,
                                                     31, 31, 30, 31, 30, 31};
  const int last = kMonthDays[static_cast<size_t>(month0)] + (month0 == 1 && IsLeap(year));
  if (day < 1 || day > last) return std::nullopt;
  return DaysFromCivil(year, static_cast<unsigned>(month0 + 1), static_cast<unsigned>(day)) *
             86400 +
         time;
}

// IMF-fixdate's and rfc850-date's rest after the day name: day, month and
// year (`year_digits` digits) joined by `sep`, then " " time-of-day " GMT".
// A two-digit year is the one with those digits that is not more than 50
// years after `now` (calendar years) and nearest it (RFC 9110 §5.6.7: a
// date more than 50 years ahead is the most recent past year with those
// digits); without `now`, 1970-2069.
std::optional<int64_t> DayMonthYearGmt(DateReader& r, std::string_view sep, size_t year_digits,
                                       std::optional<int64_t> now) {
  const std::optional<int> day = r.Digits(2);
  if (!day.has_value() || !r.Literal(sep)) return std::nullopt;
  const std::optional<int> month = r.OneOf(kMonths);
  if (!month.has_value() || !r.Literal(sep)) return std::nullopt;
  const std::optional<int> year = r.Digits(year_digits);
  if (!year.has_value() || !r.Literal(" ")) return std::nullopt;
  const std::optional<int64_t> time = TimeOfDay(r);
  if (!time.has_value() || !r.Literal(" GMT") || !r.done()) return std::nullopt;
  if (year_digits != 2) return Seconds(*year, *month, *day, *time);
  if (!now.has_value()) return Seconds(*year + (*year < 70 ? 2000 : 1900), *month, *day, *time);
  // Within years 0..9999 (a clock far off reads as its nearest end).
  constexpr int64_t kLast = 253402300799;  // 9999-12-31 23:59:59
  const CivilTime n = CivilFromSeconds(std::clamp<int64_t>(*now, 0, kLast));
  // Whether year `y` puts the date more than 50 years after now: compared
  // field by field, as calendars count years.
  const auto too_far = [&](int64_t y) {
    const int64_t ahead = y - n.year;
    if (ahead != 50) return ahead > 50;
    return std::make_tuple(*month + 1, *day, *time) >
           std::make_tuple(static_cast<int>(n.month), static_cast<int>(n.day), n.time);
  };
  int64_t full = n.year - n.year % 100 + *year;
  if (too_far(full)) {
    full -= 100;
  } else if (!too_far(full + 100)) {
    full += 100;
  }
  // Checked in the year chosen: 29-Feb-00 read as 2100 is no date.
  return Seconds(full, *month, *day, *time);
}

}  // namespace

std::optional<int64_t> ParseHttpDate(std::string_view s, std::optional<int64_t> now) {
  {  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    DateReader r(s);
    if (r.OneOf(kDays).has_value() && r.Literal(", ")) return DayMonthYearGmt(r, " ", 4, now);
  }
  {  // rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
    DateReader r(s);
    if (r.OneOf(kLongDays).has_value() && r.Literal(", ")) {
      return DayMonthYearGmt(r, "-", 2, now);
    }
  }
  {  // asctime-date: Sun Nov  6 08:49:37 1994
    DateReader r(s);
    if (r.OneOf(kDays).has_value() && r.Literal(" ")) {
      const std::optional<int> month = r.OneOf(kMonths);
      if (!month.has_value() || !r.Literal(" ")) return std::nullopt;
      std::optional<int> day;
      if (r.Literal(" ")) {
        day = r.Digits(1);
      } else {
        day = r.Digits(2);
      }
      if (!day.has_value() || !r.Literal(" ")) return std::nullopt;
      const std::optional<int64_t> time = TimeOfDay(r);
      if (!time.has_value() || !r.Literal(" ")) return std::nullopt;
      const std::optional<int> year = r.Digits(4);
      if (!year.has_value() || !r.done()) return std::nullopt;
      return Seconds(*year, *month, *day, *time);
    }
  }
  return std::nullopt;
}

bool HasConditionalField(const Request& request) {
  const auto conditional = [](const HeaderField& f) {
    return f.name.size() > 3 && AsciiToLower(f.name[0]) == 'i' && AsciiToLower(f.name[1]) == 'f' &&
           f.name[2] == '-';
  };
  const Request::HeaderRange fields = request.headers();
  return std::any_of(fields.begin(), fields.end(), conditional);
}

Precondition EvaluatePreconditions(const Request& request, const Validators& current) {
  if (!HasConditionalField(request)) return Precondition::kNone;
  const bool get_or_head = request.method() == "GET" || request.method() == "HEAD";
  const std::optional<int64_t> now = current.now;
  // 1. If-Match; 2. else If-Unmodified-Since.
  if (std::optional<bool> m = ListMatches(request, "If-Match", current, Compare::kStrong);
      m.has_value()) {
    if (!*m) return Precondition::kFailed;
  } else if (current.last_modified.has_value()) {
    const std::optional<int64_t> since = SingleDate(request, "If-Unmodified-Since", now);
    if (since.has_value() && *current.last_modified > *since) return Precondition::kFailed;
  }
  // 3. If-None-Match; 4. else If-Modified-Since (GET and HEAD only).
  if (std::optional<bool> m = ListMatches(request, "If-None-Match", current, Compare::kWeak);
      m.has_value()) {
    if (*m) return get_or_head ? Precondition::kNotModified : Precondition::kFailed;
  } else if (get_or_head && current.last_modified.has_value()) {
    const std::optional<int64_t> since = SingleDate(request, "If-Modified-Since", now);
    if (since.has_value() && *current.last_modified <= *since) {
      return Precondition::kNotModified;
    }
  }
  return Precondition::kNone;
}

std::optional<Response> ConditionalAnswer(const Request& request, const Response& response,
                                          int64_t now) {
  if (response.status != 200) return std::nullopt;
  if (request.method() != "GET" && request.method() != "HEAD") return std::nullopt;
  if (!HasConditionalField(request)) return std::nullopt;  // most requests
  Validators current;
  current.now = now;
  current.etag = response.Header("ETag").value_or("");
  if (std::optional<std::string_view> lm = response.Header("Last-Modified"); lm.has_value()) {
    current.last_modified = ParseHttpDate(*lm, now);
  }
  switch (EvaluatePreconditions(request, current)) {
    case Precondition::kNone:
      return std::nullopt;
    case Precondition::kFailed:
      return Response::Status(412);
    case Precondition::kNotModified:
      break;
  }
  // 304: the 200's fields but its representation metadata (RFC 9110
  // §15.4.5: ETag, Cache-Control, Expires, Vary, Content-Location and Date
  // are sent as they would have been; Content-Type and the like describe
  // content that is not sent; Last-Modified only without an ETag).
  const bool tagged = ParseEntityTag(current.etag).has_value();
  Response not_modified;
  not_modified.status = 304;
  for (const auto& [name, value] : response.headers) {
    if (tagged && EqualsIgnoreCase(name, "Last-Modified")) continue;
    constexpr std::string_view kContent = "Content-";
    if (EqualsIgnoreCase(std::string_view(name).substr(0, kContent.size()), kContent) &&
        !EqualsIgnoreCase(name, "Content-Location")) {
      continue;
    }
    not_modified.headers.emplace_back(name, value);
  }
  return not_modified;
}

}  // namespace brisk::http
