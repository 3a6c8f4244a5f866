#include "examples/fraud_scoring/transaction.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "simdjson.h"

namespace brisk::fraud_scoring {
namespace {

using simdjson::dom::element_type;

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

const char* TypeName(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "number";
  }
  return "unknown";
}

// Converts a feature value (a number, or null when `nullable`) to float.
// `what` names it in messages: features[3] or "amount_usd"; `name`, when
// not empty, is added to a refused null's: features[3] ("amount_usd").
absl::Status ToFeature(simdjson::dom::element v, const std::string& what, std::string_view name,
                       bool nullable, float* out) {
  if (v.is_null()) {
    if (!nullable) {
      return Invalid(what + (name.empty() ? "" : " (" + Quoted(name) + ")") +
                     " must be a number: the model has no learned default for a missing value");
    }
    *out = kMissing;
    return absl::OkStatus();
  }
  // get_double() converts int64 and uint64 values too.
  double d = 0;
  if (v.get_double().get(d)) {
    return Invalid(what +
                   (nullable ? " must be a number or null, got " : " must be a number, got ") +
                   TypeName(v.type()));
  }
  // A double beyond FLT_MAX that rounds to it (below FLT_MAX plus half a
  // float ULP, 2^128 - 2^103) is FLT_MAX: "3.4028235e38" is how FLT_MAX
  // prints at its shortest, in this service's answers and most languages.
  // Beyond, it would round to infinity; and a cast beyond FLT_MAX is
  // undefined in C++, so that case is handled apart.
  constexpr double kRoundsToFltMax = 0x1p128 - 0x1p103;
  const double magnitude = std::fabs(d);
  if (magnitude <= FLT_MAX) {
    *out = static_cast<float>(d);
  } else if (magnitude < kRoundsToFltMax) {
    *out = d > 0 ? FLT_MAX : -FLT_MAX;
  } else {
    return Invalid(what + " is out of range for a 32-bit float");
  }
  return absl::OkStatus();
}

// --- Locating a syntax error (error path only) -------------------------------
// simdjson's DOM parser validates fully but reports no position. On a parse
// error the body is walked once more with the On Demand API, which stops at
// the first bad value and knows where it is.

simdjson::error_code Visit(simdjson::ondemand::value v, size_t depth_left) {
  if (depth_left == 0) return simdjson::DEPTH_ERROR;
  simdjson::ondemand::json_type type;
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array a;
      if (auto e = v.get_array().get(a)) return e;
      for (auto item : a) {
        simdjson::ondemand::value x;
        if (auto e = item.get(x)) return e;
        if (auto e = Visit(x, depth_left - 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object o;
      if (auto e = v.get_object().get(o)) return e;
      for (auto field : o) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        simdjson::ondemand::value x;
        if (auto e = field.value().get(x)) return e;
        if (auto e = Visit(x, depth_left - 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::number: {
      simdjson::ondemand::number n;
      return v.get_number().get(n);
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      return v.get_string().get(s);
    }
    case simdjson::ondemand::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case simdjson::ondemand::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return e;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

// The first error the On Demand walk finds in `body` and its byte offset
// (-1 when unknown); SUCCESS when the walk finds none.
struct WalkError {
  simdjson::error_code error = simdjson::SUCCESS;
  long at = -1;
};

WalkError Walk(simdjson::ondemand::parser& parser, std::string_view body, size_t max_depth) {
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  WalkError out;
  if ((out.error = parser.iterate(padded).get(doc))) return out;
  simdjson::ondemand::value root;
  out.error = doc.get_value().get(root);
  if (!out.error) out.error = Visit(root, max_depth);
  if (!out.error) return out;  // the walk found nothing (e.g. trailing bytes)
  const char* at = nullptr;
  if (!doc.current_location().get(at) && at >= padded.data() && at < padded.data() + body.size()) {
    out.at = at - padded.data();
  }
  return out;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The length of the JSON number at the start of `s` by RFC 8259's grammar
// (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), or 0 when `s` does not
// start with one that ends at a delimiter.
size_t NumberLength(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return 0;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return 0;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return 0;
  }
  if (i < s.size() && !IsJsonSpace(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}') return 0;
  return i;
}

// What one pass over `body`'s brackets outside strings (escapes skipped)
// tells; nothing else is checked (callers parse to know what is valid).
struct Brackets {
  // Just past the bracket that closes the object or array opening `body`
  // (after leading whitespace); npos when `body` opens with neither or it
  // never closes.
  size_t first_value_end = std::string_view::npos;
  // `body` ends with an object, array or string still open (cut short).
  bool ends_open = false;
};

Brackets ScanBrackets(std::string_view body) {
  Brackets result;
  size_t i = 0;
  while (i < body.size() && IsJsonSpace(body[i])) ++i;
  const bool opens_with_bracket = i < body.size() && (body[i] == '{' || body[i] == '[');
  int depth = 0;
  bool in_string = false;
  for (; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) return result;  // a stray closing bracket: not cut short
      if (depth == 0 && opens_with_bracket && result.first_value_end == std::string_view::npos) {
        result.first_value_end = i + 1;
      }
    }
  }
  result.ends_open = in_string || depth > 0;
  return result;
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The usual mistakes `body` may hold at byte `at` (where the walk
// stopped), said plainly; empty when it is none of them.
std::string CommonMistake(std::string_view body, size_t at) {
  const std::string_view rest = body.substr(at);
  size_t before = at;  // the last byte before `at` that is not a space
  while (before > 0 && IsJsonSpace(body[before - 1])) --before;
  const char previous = before > 0 ? body[before - 1] : '\0';
  // A word: NaN or Infinity in any spelling, a misspelt literal, an
  // unquoted string.
  size_t sign = !rest.empty() && (rest[0] == '-' || rest[0] == '+') ? 1 : 0;
  size_t end = sign;
  while (end < rest.size() && end < 40 && (IsAsciiLetter(rest[end]) || rest[end] == '_')) ++end;
  if (end > sign) {
    const std::string_view word = rest.substr(0, end);
    std::string lower(word.substr(sign));
    for (char& c : lower) c = static_cast<char>(c | 0x20);
    if (lower == "nan" || lower == "inf" || lower == "infinity") {
      return std::string(word) + " is not a JSON number (send null for a missing value)";
    }
    // A literal misspelt by its case or cut short ("True", "nul").
    if (sign == 0 && (std::string_view("true").starts_with(lower) ||
                      std::string_view("false").starts_with(lower) ||
                      std::string_view("null").starts_with(lower))) {
      return std::string(word) + " is not a JSON value (true, false and null are written in " +
             "full, in lower case)";
    }
    if (sign == 0) {
      return std::string(word) +
             " is not a JSON value (strings and field names are written in double quotes)";
    }
  }
  if (rest.empty()) return "";
  switch (rest[0]) {
    case '\'':
      return "strings and field names are written in double quotes (\"), not single ones";
    case '.':
    case '+':
      return "a JSON number starts with a digit or '-' (0.5, not .5; 1, not +1)";
    case ',':
      if (previous != ',' && previous != '[' && previous != ':') return "";
      return "a value is missing before this comma";
    case ']':
    case '}':
      if (previous != ',') return "";
      return std::string("a value is missing before this '") + rest[0] + "' (a comma too many?)";
    default:
      return "";
  }
}

// What is wrong with a body simdjson's DOM parser refused with `error`, in
// the words a client needs: where (when the walk can tell) and, for the
// usual mistakes, which one.
std::string SyntaxErrorMessage(simdjson::dom::parser& dom, simdjson::ondemand::parser& locator,
                               std::string_view body, simdjson::error_code error,
                               size_t max_depth) {
  const std::string depth_message =
      "invalid JSON: nested deeper than " + std::to_string(max_depth) + " levels";
  if (error == simdjson::DEPTH_ERROR) return depth_message;
  // RFC 8259 8.1: JSON text is UTF-8 with no byte-order mark.
  if (body.substr(0, 3) == "\xEF\xBB\xBF") {
    return "invalid JSON: the body starts with a byte-order mark (U+FEFF); send UTF-8 JSON "
           "without one";
  }
  if (body.find('\0') != std::string_view::npos) {
    return "invalid JSON: the body holds NUL bytes; JSON must be sent as UTF-8 (not UTF-16)";
  }
  if (error == simdjson::MEMALLOC || error == simdjson::CAPACITY) {
    return std::string("invalid JSON: ") + simdjson::error_message(error);
  }
  const WalkError walk = Walk(locator, body, max_depth);
  if (walk.error == simdjson::DEPTH_ERROR) return depth_message;
  const Brackets brackets = ScanBrackets(body);
  if (walk.error == simdjson::SUCCESS) {
    // The first value may be whole with more after it (a second document,
    // a stray character): say so and where.
    const size_t end = brackets.first_value_end;
    simdjson::dom::element ignored;
    if (end != std::string_view::npos &&
        dom.parse(body.data(), end, true).get(ignored) == simdjson::SUCCESS) {
      size_t at = end;
      while (at < body.size() && IsJsonSpace(body[at])) ++at;
      return "invalid JSON at byte " + std::to_string(at) + ": text after the JSON value";
    }
  }
  std::string message = "invalid JSON";
  if (walk.at >= 0) message += " at byte " + std::to_string(walk.at);
  const bool located = walk.at >= 0 && static_cast<size_t>(walk.at) <= body.size();
  const std::string_view rest = located ? body.substr(walk.at) : std::string_view();
  if (error == simdjson::STRING_ERROR) {
    return message + ": malformed string (an escape JSON does not have, such as \\x, or a " +
           "\\u escape of an unpaired surrogate such as \\ud800)";
  }
  if (error == simdjson::UNESCAPED_CHARS) {
    return message + ": a string holds a control character (U+0000 to U+001F), which JSON " +
           "writes escaped (\\n, \\t, \\u0001)";
  }
  if (const std::string mistake = located ? CommonMistake(body, walk.at) : std::string();
      !mistake.empty()) {
    return message + ": " + mistake;
  }
  if (brackets.ends_open) {
    return message + ": the body ends inside an object, array or string (cut short, or a " +
           "closing '}', ']' or '\"' missing)";
  }
  if (error == simdjson::NUMBER_ERROR || error == simdjson::NUMBER_OUT_OF_RANGE) {
    const size_t length = NumberLength(rest);
    if (length == 0) return message + ": malformed number";
    // Well formed, so out of simdjson's range: say which, cut if long.
    constexpr size_t kShown = 40;
    return message + ": the number " + std::string(rest.substr(0, std::min(length, kShown))) +
           (length > kShown ? "..." : "") +
           " is out of range (integers must fit in 64 bits, other numbers in a double; send "
           "long identifiers as strings)";
  }
  return message + ": " + simdjson::error_message(error);
}

}  // namespace

struct TransactionParser::Impl {
  simdjson::dom::parser dom;
  simdjson::ondemand::parser locator;  // error messages only
  std::vector<uint8_t> seen;           // per feature name, named form
};

TransactionParser::TransactionParser(std::vector<std::string> feature_names,
                                     TransactionParserOptions options)
    : names_(std::move(feature_names)), options_(options), impl_(std::make_unique<Impl>()) {}

TransactionParser::~TransactionParser() = default;
TransactionParser::TransactionParser(TransactionParser&&) noexcept = default;
TransactionParser& TransactionParser::operator=(TransactionParser&&) noexcept = default;

absl::Status TransactionParser::Parse(std::string_view body, Transaction* out) {
  // The size first: an oversized body is refused unread, even a blank one.
  if (body.size() > options_.max_body_bytes) {
    return absl::OutOfRangeError("request body is larger than " +
                                 std::to_string(options_.max_body_bytes) + " bytes");
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Invalid("request body is empty");
  }
  Impl& impl = *impl_;
  if (impl.dom.max_depth() != options_.max_depth) {
    if (impl.dom.allocate(body.size(), options_.max_depth)) {
      return absl::ResourceExhaustedError("cannot allocate the JSON parser");
    }
  }
  simdjson::dom::element root;
  // realloc_if_needed=true: simdjson copies the body into its own padded
  // buffer, so `body` needs no SIMDJSON_PADDING.
  if (simdjson::error_code e = impl.dom.parse(body.data(), body.size(), true).get(root)) {
    return Invalid(SyntaxErrorMessage(impl.dom, impl.locator, body, e, options_.max_depth));
  }
  simdjson::dom::object object;
  if (root.get(object)) return Invalid("request body must be a JSON object");

  const size_t n = names_.size();
  out->features.assign(n, kMissing);
  out->id.reset();
  impl.seen.assign(n, 0);
  bool positional = false;
  size_t named = 0;
  // The body's form is judged before its values: a duplicate field, or
  // both forms, is the error whichever field comes first; else the first
  // bad value.
  absl::Status bad_value;
  auto note = [&bad_value](absl::Status s) {
    if (bad_value.ok()) bad_value = std::move(s);
  };
  for (simdjson::dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    if (key == kFeaturesKey) {
      if (positional) return Invalid("duplicate field \"features\"");
      positional = true;
      if (!bad_value.ok()) continue;
      simdjson::dom::array array;
      if (field.value.get(array)) {
        note(Invalid("\"features\" must be an array of " + std::to_string(n) + " numbers, got " +
                     TypeName(field.value.type())));
        continue;
      }
      if (array.size() != n) {
        note(Invalid("\"features\" must have " + std::to_string(n) + " numbers, got " +
                     std::to_string(array.size())));
        continue;
      }
      size_t i = 0;
      for (simdjson::dom::element v : array) {
        absl::Status s = ToFeature(v, "features[" + std::to_string(i) + "]", names_[i], Nullable(i),
                                   &out->features[i]);
        if (!s.ok()) {
          note(std::move(s));
          break;
        }
        ++i;
      }
    } else if (key == kIdKey) {
      if (out->id.has_value()) return Invalid("duplicate field \"id\"");
      std::string_view id;
      if (field.value.get(id)) {
        // Held as present, so a second "id" is still a duplicate.
        out->id.emplace();
        note(Invalid(std::string("\"id\" must be a string, got ") + TypeName(field.value.type())));
        continue;
      }
      out->id.emplace(id);
      if (id.size() > options_.max_id_bytes) {
        note(Invalid("\"id\" is longer than " + std::to_string(options_.max_id_bytes) + " bytes"));
      }
    } else {
      size_t i = 0;
      while (i < n && names_[i] != key) ++i;
      if (i == n) continue;  // not ours: ignored
      if (impl.seen[i]) return Invalid("duplicate field " + Quoted(key));
      impl.seen[i] = 1;
      ++named;
      if (!bad_value.ok()) continue;
      note(ToFeature(field.value, Quoted(key), "", Nullable(i), &out->features[i]));
    }
  }
  if (positional && named > 0) {
    return Invalid("use either \"features\" or named feature fields, not both");
  }
  if (!bad_value.ok()) return bad_value;
  if (!positional && named == 0) {
    return Invalid("missing \"features\" (an array of " + std::to_string(n) +
                   " numbers) or named feature fields");
  }
  if (!positional && named < n) {
    std::string message = "missing features: ";
    bool first = true;
    for (size_t i = 0; i < n; ++i) {
      if (impl.seen[i]) continue;
      if (!first) message += ", ";
      message += Quoted(names_[i]);
      first = false;
    }
    return Invalid(std::move(message));
  }
  return absl::OkStatus();
}

}  // namespace brisk::fraud_scoring
