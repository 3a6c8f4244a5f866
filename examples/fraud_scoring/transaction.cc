#include "examples/fraud_scoring/transaction.h"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
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

// Converts a feature value (number or null) to float. `what` names it in
// messages: features[3] or "amount_usd".
absl::Status ToFeature(simdjson::dom::element v, const std::string& what, float* out) {
  if (v.is_null()) {
    *out = kMissing;
    return absl::OkStatus();
  }
  // get_double() converts int64 and uint64 values too.
  double d = 0;
  if (v.get_double().get(d)) {
    return Invalid(what + " must be a number or null, got " + TypeName(v.type()));
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

// Byte offset of the first syntax error in `body`, or -1 when unknown.
long ErrorOffset(simdjson::ondemand::parser& parser, std::string_view body,
                 size_t max_depth) {
  simdjson::padded_string padded(body);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return -1;
  simdjson::ondemand::value root;
  simdjson::error_code e = doc.get_value().get(root);
  if (!e) e = Visit(root, max_depth);
  if (!e) return -1;  // the walk found nothing (e.g. trailing bytes)
  const char* at = nullptr;
  if (doc.current_location().get(at) || at < padded.data() ||
      at >= padded.data() + body.size()) {
    return -1;
  }
  return at - padded.data();
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
    std::string message = "invalid JSON";
    if (e == simdjson::DEPTH_ERROR) {
      return Invalid(message + ": nested deeper than " + std::to_string(options_.max_depth) +
                     " levels");
    }
    if (e != simdjson::MEMALLOC && e != simdjson::CAPACITY) {
      const long at = ErrorOffset(impl.locator, body, options_.max_depth);
      if (at >= 0) message += " at byte " + std::to_string(at);
    }
    return Invalid(message + ": " + simdjson::error_message(e));
  }
  simdjson::dom::object object;
  if (root.get(object)) return Invalid("request body must be a JSON object");

  const size_t n = names_.size();
  out->features.assign(n, kMissing);
  out->id.reset();
  impl.seen.assign(n, 0);
  bool positional = false;
  size_t named = 0;
  for (simdjson::dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    if (key == kFeaturesKey) {
      if (positional) return Invalid("duplicate field \"features\"");
      positional = true;
      simdjson::dom::array array;
      if (field.value.get(array)) {
        return Invalid("\"features\" must be an array of " + std::to_string(n) +
                       " numbers, got " + TypeName(field.value.type()));
      }
      if (array.size() != n) {
        return Invalid("\"features\" must have " + std::to_string(n) + " numbers, got " +
                       std::to_string(array.size()));
      }
      size_t i = 0;
      for (simdjson::dom::element v : array) {
        absl::Status s = ToFeature(v, "features[" + std::to_string(i) + "]", &out->features[i]);
        if (!s.ok()) return s;
        ++i;
      }
    } else if (key == kIdKey) {
      if (out->id.has_value()) return Invalid("duplicate field \"id\"");
      std::string_view id;
      if (field.value.get(id) || id.size() > options_.max_id_bytes) {
        return Invalid("\"id\" must be a string of at most " +
                       std::to_string(options_.max_id_bytes) + " bytes");
      }
      out->id.emplace(id);
    } else {
      size_t i = 0;
      while (i < n && names_[i] != key) ++i;
      if (i == n) continue;  // not ours: ignored
      if (impl.seen[i]) return Invalid("duplicate field " + Quoted(key));
      impl.seen[i] = 1;
      ++named;
      absl::Status s = ToFeature(field.value, Quoted(key), &out->features[i]);
      if (!s.ok()) return s;
    }
  }
  if (positional && named > 0) {
    return Invalid("use either \"features\" or named feature fields, not both");
  }
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
