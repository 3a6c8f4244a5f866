// Table-driven tests for TransactionParser. Each body is copied into an
// exactly sized heap buffer, so ASan catches any read past it (simdjson
// needs SIMDJSON_PADDING bytes after its input; the parser must supply
// them, never the caller). Each row also runs twice on the same parser, so
// state left over from one parse cannot leak into the next.
#include "examples/fraud_scoring/transaction.h"

#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace brisk::fraud_scoring {
namespace {

const std::vector<std::string> kNames = {"amount", "hour", "risk"};
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Case {
  const char* name;
  std::string body;
  // Expected on success; empty `features` means an error is expected.
  std::vector<float> features = {};
  std::optional<std::string> id = std::nullopt;
  // Expected error: a substring of the message, and the status code
  // (OutOfRange only for the size limit: the service answers it 413).
  const char* error = nullptr;
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

std::string Big(size_t n) { return std::string(n, ' '); }

const Case kCases[] = {
    // --- Accepted -----------------------------------------------------------
    {"positional", R"({"features": [12.5, 3, 0.25]})", {12.5f, 3, 0.25f}},
    {"positional_with_id", R"({"id": "t-1", "features": [1, 2, 3]})", {1, 2, 3}, "t-1"},
    {"integers_and_exponents", R"({"features": [-7, 1e3, 2.5E-1]})", {-7, 1000, 0.25f}},
    {"null_is_missing", R"({"features": [1, null, 3]})", {1, kNaN, 3}},
    // simdjson reads the integer -0 as 0; a tree split cannot tell them apart.
    {"negative_zero", R"({"features": [-0, 0.0, -0.0]})", {0, 0, -0.0f}},
    {"named", R"({"risk": 0.5, "amount": 10, "hour": 23})", {10, 23, 0.5f}},
    {"named_null", R"({"risk": null, "amount": 10, "hour": 23})", {10, 23, kNaN}},
    {"unknown_fields_ignored",
     R"({"merchant": {"id": 7, "tags": ["a", [1, {}]]}, "features": [1, 2, 3], "ts": null})",
     {1, 2, 3}},
    {"whitespace_around", " \r\n\t{\"features\":[1,2,3]}\n\t ", {1, 2, 3}},
    {"unicode_id",
     R"({"id": "caf\u00e9 \ud83d\ude00 \"q\" \\", "features": [1, 2, 3]})",
     {1, 2, 3},
     "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\"},
    {"raw_utf8_id",
     "{\"id\": \"\xe6\x97\xa5\xe6\x9c\xac\", \"features\": [1, 2, 3]}",
     {1, 2, 3},
     "\xe6\x97\xa5\xe6\x9c\xac"},
    {"empty_id", R"({"id": "", "features": [1, 2, 3]})", {1, 2, 3}, ""},
    {"escaped_key", R"({"\u0061mount": 1, "hour": 2, "risk": 3})", {1, 2, 3}},
    {"float_max",
     R"({"features": [3.4028234e38, -3.4028234e38, 1e-45]})",
     {3.4028234e38f, -3.4028234e38f, 1e-45f}},
    // FLT_MAX as it prints at its shortest (above FLT_MAX as a double, but
    // rounding to it), and the last double below the rounding boundary.
    {"float_max_shortest",
     R"({"features": [3.4028235e38, -3.4028235e38, 3.4028235677973362e38]})",
     {FLT_MAX, -FLT_MAX, FLT_MAX}},
    {"tiny_underflows_to_zero", R"({"features": [1e-300, 0, 0]})", {0, 0, 0}},
    {"uint64_max",
     R"({"features": [18446744073709551615, 0, 0]})",
     {18446744073709551615.0f, 0, 0}},
    {"at_the_size_limit", "{\"features\": [1, 2, 3]}" + Big(65536 - 23), {1, 2, 3}},

    // --- Not JSON -----------------------------------------------------------
    {"empty_body", "", {}, {}, "request body is empty"},
    {"only_whitespace", " \n ", {}, {}, "request body is empty"},
    {"truncated",
     R"({"features": [1, 2, 3])",
     {},
     {},
     "invalid JSON: the body ends inside an object, array or string (cut short"},
    {"truncated_in_array", R"({"features": [1, 2)", {}, {}, "the body ends inside"},
    {"truncated_in_string", R"({"id": "abc)", {}, {}, "the body ends inside"},
    {"bad_atom",
     R"({"features": [1, tru, 3]})",
     {},
     {},
     "invalid JSON at byte 17: tru is not a JSON value (true, false and null are written in "
     "full, in lower case)"},
    {"capital_true", R"({"features": [True, 2, 3]})", {}, {}, "True is not a JSON value"},
    {"unquoted_word",
     R"({"features": [1, 2, 3], "id": abc})",
     {},
     {},
     "abc is not a JSON value (strings and field names are written in double quotes)"},
    {"unquoted_key",
     R"({features: [1, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 1: features is not a JSON value"},
    {"nan_lower_case",
     R"({"features": [nan, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: nan is not a JSON number (send null for a missing value)"},
    {"inf_text", R"({"features": [1, -inf, 3]})", {}, {}, "-inf is not a JSON number"},
    {"leading_dot",
     R"({"features": [.5, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: a JSON number starts with a digit or '-' (0.5, not .5"},
    {"leading_plus", R"({"features": [+1, 2, 3]})", {}, {}, "starts with a digit or '-'"},
    {"double_comma",
     R"({"features": [1, , 3]})",
     {},
     {},
     "invalid JSON at byte 17: a value is missing before this comma"},
    {"trailing_comma_in_object",
     R"({"features": [1, 2, 3],})",
     {},
     {},
     "a value is missing before this '}' (a comma too many?)"},
    {"extra_bracket", R"({"features": [1, 2, 3]]})", {}, {}, "invalid JSON at byte 22: "},
    {"nan_text",
     R"({"features": [NaN, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: NaN is not a JSON number (send null for a missing value)"},
    {"infinity_text",
     R"({"features": [Infinity, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: Infinity is not a JSON number"},
    {"minus_infinity_text",
     R"({"features": [1, -Infinity, 3]})",
     {},
     {},
     "invalid JSON at byte 17: -Infinity is not a JSON number"},
    {"leading_zero",
     R"({"features": [01, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: malformed number"},
    {"lone_minus",
     R"({"features": [-, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: malformed number"},
    {"bare_fraction",
     R"({"features": [1., 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: malformed number"},
    {"trailing_garbage",
     R"({"features": [1, 2, 3]} x)",
     {},
     {},
     "invalid JSON at byte 24: text after the JSON value"},
    {"two_documents",
     R"({"features": [1, 2, 3]}{})",
     {},
     {},
     "invalid JSON at byte 23: text after the JSON value"},
    {"two_documents_braces_in_strings",
     R"({"id": "}{\"", "features": [1, 2, 3]} {"x": 1})",
     {},
     {},
     "invalid JSON at byte 38: text after the JSON value"},
    {"byte_order_mark",
     "\xEF\xBB\xBF{\"features\": [1, 2, 3]}",
     {},
     {},
     "invalid JSON: the body starts with a byte-order mark (U+FEFF)"},
    {"utf16",
     std::string("{\0\"\0f\0\"\0:\0 \0}\0", 14),
     {},
     {},
     "invalid JSON: the body holds NUL bytes; JSON must be sent as UTF-8 (not UTF-16)"},
    {"trailing_comma",
     R"({"features": [1, 2, 3,]})",
     {},
     {},
     "invalid JSON at byte 22: a value is missing before this ']' (a comma too many?)"},
    {"single_quotes",
     R"({'features': [1, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 1: strings and field names are written in double quotes"},
    {"invalid_utf8", "{\"id\": \"\xff\", \"features\": [1, 2, 3]}", {}, {}, "UTF-8"},
    {"lone_surrogate",
     R"({"id": "\ud800", "features": [1, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 15: malformed string (an escape JSON does not have"},
    {"bad_escape", R"({"id": "\x", "features": [1, 2, 3]})", {}, {}, "malformed string"},
    {"control_char_in_string",
     "{\"id\": \"a\x01\", \"features\": [1, 2, 3]}",
     {},
     {},
     "invalid JSON: a string holds a control character (U+0000 to U+001F)"},
    {"nul_byte", std::string("{\"features\": [1, 2, 3]}\0", 24), {}, {}, "holds NUL bytes"},
    {"number_too_big_for_double",
     R"({"features": [1e400, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: the number 1e400 is out of range (integers must fit in 64 bits, "
     "other numbers in a double; send long identifiers as strings)"},
    {"integer_too_big",
     R"({"features": [123456789012345678901234567890, 2, 3]})",
     {},
     {},
     "invalid JSON at byte 14: the number 123456789012345678901234567890 is out of range"},
    // A client's own context is ignored, but must be in simdjson's range.
    {"integer_too_big_in_ignored_field",
     R"({"features": [1, 2, 3], "context": {"merchant_id": 18446744073709551616}})",
     {},
     {},
     "invalid JSON at byte 51: the number 18446744073709551616 is out of range"},
    {"long_integer_is_cut_in_the_message",
     "{\"features\": [" + std::string(1000, '7') + "]}",
     {},
     {},
     "the number 7777777777777777777777777777777777777777... is out of range"},
    {"bad_junk_in_ignored_field", R"({"features": [1, 2, 3], "x": [nul]})", {}, {}, "invalid JSON"},
    {"too_deep",
     "{\"x\": " + std::string(40, '[') + std::string(40, ']') + ", \"features\": [1, 2, 3]}",
     {},
     {},
     "nested deeper than 32 levels"},
    // Unclosed as well as too deep: the depth is what is said first.
    {"too_deep_and_unclosed",
     std::string(10000, '['),
     {},
     {},
     "invalid JSON: nested deeper than 32 levels"},
    {"too_large",
     "{\"features\": [1, 2, 3]}" + Big(70000),
     {},
     {},
     "larger than 65536 bytes",
     absl::StatusCode::kOutOfRange},
    {"too_large_blank",
     Big(65537),
     {},
     {},
     "larger than 65536 bytes",
     absl::StatusCode::kOutOfRange},
    {"too_large_not_json",
     "{" + std::string(65536, 'x'),
     {},
     {},
     "larger than 65536 bytes",
     absl::StatusCode::kOutOfRange},

    // --- JSON, wrong shape or types ----------------------------------------
    {"array_body", "[1, 2, 3]", {}, {}, "request body must be a JSON object"},
    {"string_body", "\"hi\"", {}, {}, "request body must be a JSON object"},
    {"number_body", "42", {}, {}, "request body must be a JSON object"},
    {"empty_object", "{}", {}, {}, "missing \"features\" (an array of 3 numbers)"},
    {"too_few", R"({"features": [1, 2]})", {}, {}, "\"features\" must have 3 numbers, got 2"},
    {"too_many",
     R"({"features": [1, 2, 3, 4]})",
     {},
     {},
     "\"features\" must have 3 numbers, got 4"},
    {"features_not_array",
     R"({"features": {"a": 1}})",
     {},
     {},
     "\"features\" must be an array of 3 numbers, got object"},
    {"string_number",
     R"({"features": [1, "2", 3]})",
     {},
     {},
     "features[1] must be a number or null, got string"},
    {"bool_feature",
     R"({"features": [1, 2, true]})",
     {},
     {},
     "features[2] must be a number or null, got boolean"},
    {"nested_feature",
     R"({"features": [[1], 2, 3]})",
     {},
     {},
     "features[0] must be a number or null, got array"},
    {"float_overflow",
     R"({"features": [1, 3.5e38, 3]})",
     {},
     {},
     "features[1] is out of range for a 32-bit float"},
    {"float_overflow_negative",
     R"({"features": [1, 2, -1e300]})",
     {},
     {},
     "features[2] is out of range for a 32-bit float"},
    // 2^128 - 2^103, FLT_MAX plus half a float ULP: rounds to infinity.
    {"float_overflow_at_the_boundary",
     R"({"features": [1, 3.4028235677973366e38, 3]})",
     {},
     {},
     "features[1] is out of range for a 32-bit float"},
    {"named_wrong_type",
     R"({"amount": "10", "hour": 1, "risk": 2})",
     {},
     {},
     "\"amount\" must be a number or null, got string"},
    {"named_missing", R"({"hour": 1})", {}, {}, "missing features: \"amount\", \"risk\""},
    {"named_typo", R"({"amount": 1, "hour": 1, "risc": 2})", {}, {}, "missing features: \"risk\""},
    {"both_forms",
     R"({"features": [1, 2, 3], "hour": 4})",
     {},
     {},
     "use either \"features\" or named feature fields, not both"},
    {"duplicate_features",
     R"({"features": [1, 2, 3], "features": [4, 5, 6]})",
     {},
     {},
     "duplicate field \"features\""},
    // The form is judged before the values: the same error whichever of
    // the two comes first, the bad one or the good one.
    {"duplicate_features_first_bad",
     R"({"features": [1, 2], "features": [4, 5, 6]})",
     {},
     {},
     "duplicate field \"features\""},
    {"duplicate_named_first_bad",
     R"({"amount": 1, "hour": "x", "risk": 2, "hour": 3})",
     {},
     {},
     "duplicate field \"hour\""},
    {"duplicate_id_first_bad",
     R"({"id": 7, "features": [1, 2, 3], "id": "b"})",
     {},
     {},
     "duplicate field \"id\""},
    {"both_forms_first_bad",
     R"({"features": [1, "2", 3], "hour": 4})",
     {},
     {},
     "use either \"features\" or named feature fields, not both"},
    // Of two bad values, the first is said.
    {"two_bad_values",
     R"({"amount": "1", "hour": "x", "risk": 2})",
     {},
     {},
     "\"amount\" must be a number or null, got string"},
    {"duplicate_named",
     R"({"amount": 1, "hour": 1, "risk": 2, "hour": 3})",
     {},
     {},
     "duplicate field \"hour\""},
    {"duplicate_id",
     R"({"id": "a", "id": "b", "features": [1, 2, 3]})",
     {},
     {},
     "duplicate field \"id\""},
    {"id_not_string",
     R"({"id": 7, "features": [1, 2, 3]})",
     {},
     {},
     "\"id\" must be a string, got number"},
    {"id_too_long",
     "{\"id\": \"" + std::string(257, 'x') + "\", \"features\": [1, 2, 3]}",
     {},
     {},
     "\"id\" is longer than 256 bytes"},
};

class TransactionParserTest : public testing::TestWithParam<Case> {};

void Check(const Case& c, TransactionParser& parser) {
  auto buf = std::make_unique<char[]>(c.body.size());
  std::memcpy(buf.get(), c.body.data(), c.body.size());
  Transaction txn;
  absl::Status s = parser.Parse(std::string_view(buf.get(), c.body.size()), &txn);
  if (c.error != nullptr) {
    ASSERT_FALSE(s.ok()) << "accepted";
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_NE(s.message().find(c.error), std::string_view::npos)
        << "message: " << s.message() << "\nwant: " << c.error;
    return;
  }
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(txn.features.size(), c.features.size());
  for (size_t i = 0; i < c.features.size(); ++i) {
    if (std::isnan(c.features[i])) {
      EXPECT_TRUE(std::isnan(txn.features[i])) << i;
    } else {
      EXPECT_EQ(txn.features[i], c.features[i]) << i;
      EXPECT_EQ(std::signbit(txn.features[i]), std::signbit(c.features[i])) << i;
    }
  }
  EXPECT_EQ(txn.id, c.id);
}

TEST_P(TransactionParserTest, ParsesOrRejects) {
  TransactionParser parser(kNames);
  Check(GetParam(), parser);
  Check(GetParam(), parser);  // the same parser again: no leftover state
}

INSTANTIATE_TEST_SUITE_P(Table, TransactionParserTest, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.name);
                         });

// One parser through every row in turn: an error never poisons later parses,
// and a success after an error carries nothing over (id, features).
TEST(TransactionParserSequenceTest, OneParserForAllRows) {
  TransactionParser parser(kNames);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Check(c, parser);
  }
}

TEST(TransactionParserOptionsTest, LimitsAreOptions) {
  TransactionParserOptions options;
  options.max_body_bytes = 30;
  options.max_id_bytes = 2;
  TransactionParser parser(kNames, options);
  Transaction txn;
  EXPECT_TRUE(parser.Parse(R"({"features":[1,2,3]})", &txn).ok());
  const absl::Status too_large = parser.Parse(R"({"features": [1, 2, 3], "x": 1})", &txn);
  EXPECT_EQ(too_large.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(too_large.message().find("larger than 30 bytes"), std::string_view::npos);
  EXPECT_TRUE(parser.Parse(R"({"id":"ab","features":[1,2,3]})", &txn).ok());
  EXPECT_FALSE(parser.Parse(R"({"id":"abc","features":[1,2,3]})", &txn).ok());
}

// A model learns a default branch for a missing value only where training
// had missing values: a null for any other feature is refused, in both
// forms, with the feature named; a nullable one still reads as NaN.
TEST(TransactionParserOptionsTest, NullOnlyWhereTheModelLearnedADefault) {
  TransactionParser parser(kNames, {.nullable = {true, false, true}});
  Transaction txn;
  absl::Status s = parser.Parse(R"({"features": [1, null, 3]})", &txn);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "features[1] (\"hour\") must be a number: the model has no learned default for a "
            "missing value");
  s = parser.Parse(R"({"risk": 0.5, "amount": 10, "hour": null})", &txn);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "\"hour\" must be a number: the model has no learned default for a missing value");
  s = parser.Parse(R"({"features": [1, "2", 3]})", &txn);
  EXPECT_EQ(s.message(), "features[1] must be a number, got string");
  s = parser.Parse(R"({"features": [1, 2, "3"]})", &txn);
  EXPECT_EQ(s.message(), "features[2] must be a number or null, got string");
  // Nullable features still take null, in both forms.
  ASSERT_TRUE(parser.Parse(R"({"features": [null, 2, null]})", &txn).ok());
  EXPECT_TRUE(std::isnan(txn.features[0]));
  EXPECT_EQ(txn.features[1], 2);
  EXPECT_TRUE(std::isnan(txn.features[2]));
  ASSERT_TRUE(parser.Parse(R"({"risk": null, "amount": 10, "hour": 23})", &txn).ok());
  EXPECT_TRUE(std::isnan(txn.features[2]));
  // A shorter mask leaves the features past its end nullable.
  TransactionParser short_mask(kNames, {.nullable = {false}});
  ASSERT_TRUE(short_mask.Parse(R"({"features": [1, null, null]})", &txn).ok());
  EXPECT_FALSE(short_mask.Parse(R"({"features": [null, 2, 3]})", &txn).ok());
}

TEST(TransactionParserMoveTest, MovedParserWorks) {
  TransactionParser a(kNames);
  TransactionParser b = std::move(a);
  Transaction txn;
  ASSERT_TRUE(b.Parse(R"({"features":[1,2,3]})", &txn).ok());
  EXPECT_EQ(b.feature_names(), kNames);
}

// The body's own keys: a model feature named like one of them is reached
// only through the array (the binary warns about such a model at start).
TEST(TransactionParserTest, AFeatureNamedLikeAReservedKeyIsReachedOnlyPositionally) {
  EXPECT_TRUE(TransactionParser::IsReservedKey("features"));
  EXPECT_TRUE(TransactionParser::IsReservedKey("id"));
  EXPECT_FALSE(TransactionParser::IsReservedKey("amount"));
  TransactionParser parser({"id", "amount"});
  Transaction t;
  ASSERT_TRUE(parser.Parse(R"({"features": [1, 2]})", &t).ok());
  EXPECT_EQ(t.features, (std::vector<float>{1, 2}));
  EXPECT_FALSE(parser.Parse(R"({"id": 1, "amount": 2})", &t).ok());
}

}  // namespace
}  // namespace brisk::fraud_scoring
