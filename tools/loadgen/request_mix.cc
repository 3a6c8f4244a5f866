#include "tools/loadgen/request_mix.h"

#include <errno.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace brisk::loadgen {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

// Reads one value at the front of `rest` (bare, or double-quoted with \" and
// \\ escapes) and removes it from `rest`.
absl::StatusOr<std::string> TakeValue(std::string_view& rest) {
  std::string value;
  if (rest.empty() || rest.front() != '"') {
    size_t end = 0;
    while (end < rest.size() && !IsBlank(rest[end])) ++end;
    value = std::string(rest.substr(0, end));
    rest.remove_prefix(end);
    return value;
  }
  rest.remove_prefix(1);
  while (true) {
    if (rest.empty()) return absl::InvalidArgumentError("unterminated quote");
    char c = rest.front();
    rest.remove_prefix(1);
    if (c == '"') break;
    if (c == '\\' && !rest.empty() && (rest.front() == '"' || rest.front() == '\\')) {
      c = rest.front();
      rest.remove_prefix(1);
    }
    value += c;
  }
  if (!rest.empty() && !IsBlank(rest.front())) {
    return absl::InvalidArgumentError("a quoted value must end at a space");
  }
  return value;
}

absl::Status BadValue(std::string_view key, std::string_view value) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad value for ", std::string(key), ": '", std::string(value), "'"));
}

// Applies `key`=`value` to `spec`.
absl::Status Apply(std::string_view key, std::string value, ClassSpec& spec,
                   bool& has_body, bool& has_body_file) {
  if (key == "rate") {
    if (!absl::SimpleAtoi(value, &spec.rate) || spec.rate == 0) {
      return BadValue(key, value);
    }
  } else if (key == "connections") {
    if (!absl::SimpleAtoi(value, &spec.connections) || spec.connections < 1) {
      return BadValue(key, value);
    }
  } else if (key == "sla") {
    absl::Duration sla;
    if (!absl::ParseDuration(value, &sla) || !ValidSla(sla)) {
      return BadValue(key, value);
    }
    spec.sla = absl::ToChronoNanoseconds(sla);
  } else if (key == "method") {
    if (value.empty()) return BadValue(key, value);
    spec.method = std::move(value);
  } else if (key == "target") {
    if (value.empty()) return BadValue(key, value);
    spec.target = std::move(value);
  } else if (key == "header") {
    if (value.find(':') == std::string::npos) return BadValue(key, value);
    spec.headers.push_back(std::move(value));
  } else if (key == "body") {
    has_body = true;
    spec.body = std::move(value);
  } else if (key == "body_file") {
    has_body_file = true;
    absl::StatusOr<std::string> body = ReadFile(value);
    if (!body.ok()) return body.status();
    spec.body = *std::move(body);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown key '", std::string(key), "'"));
  }
  return absl::OkStatus();
}

}  // namespace

bool ValidSla(absl::Duration sla) { return sla >= absl::ZeroDuration() && sla <= kMaxSla; }

absl::StatusOr<ClassSpec> ParseClassSpec(std::string_view text,
                                         const ClassSpec& defaults) {
  ClassSpec spec = defaults;
  spec.name.clear();
  std::string_view rest = text;
  while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
  while (!rest.empty() && IsNameChar(rest.front())) {
    spec.name += rest.front();
    rest.remove_prefix(1);
  }
  if (spec.name.empty() || (!rest.empty() && !IsBlank(rest.front()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a class starts with its name (letters, digits, _ - .): '", std::string(text), "'"));
  }
  std::set<std::string, std::less<>> seen;
  bool has_body = false;
  bool has_body_file = false;
  while (true) {
    while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
    if (rest.empty()) break;
    const size_t eq = rest.find('=');
    const size_t blank = rest.find_first_of(" \t\r");
    if (eq == std::string_view::npos || eq == 0 || eq > blank) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class ", spec.name, ": expected key=value at '", std::string(rest), "'"));
    }
    const std::string_view key = rest.substr(0, eq);
    rest.remove_prefix(eq + 1);
    if (key != "header" && !seen.insert(std::string(key)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", spec.name, ": ", std::string(key), " given twice"));
    }
    absl::StatusOr<std::string> value = TakeValue(rest);
    absl::Status applied =
        value.ok() ? Apply(key, *std::move(value), spec, has_body, has_body_file)
                   : value.status();
    if (!applied.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", spec.name, ": ", applied.message()));
    }
  }
  if (has_body && has_body_file) {
    return absl::InvalidArgumentError(
        absl::StrCat("class ", spec.name, ": body and body_file both given"));
  }
  if (spec.rate == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("class ", spec.name, ": rate=N is required"));
  }
  return spec;
}

absl::StatusOr<std::vector<ClassSpec>> ParseMixFile(std::string_view text,
                                                    const ClassSpec& defaults) {
  std::vector<ClassSpec> classes;
  int line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++line_number;
    size_t first = 0;
    while (first < line.size() && IsBlank(line[first])) ++first;
    if (first == line.size() || line[first] == '#') continue;
    absl::StatusOr<ClassSpec> spec = ParseClassSpec(line, defaults);
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", spec.status().message()));
    }
    classes.push_back(*std::move(spec));
  }
  return classes;
}

absl::Status CheckClassNames(const std::vector<ClassSpec>& classes) {
  std::set<std::string> names;
  for (const ClassSpec& c : classes) {
    if (!names.insert(c.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two classes are named ", c.name));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                        &std::fclose);
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string content;
  char buffer[64 * 1024];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    content.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    return absl::InvalidArgumentError(absl::StrCat("error reading ", path));
  }
  return content;
}

std::string ClassFileName(std::string_view path, std::string_view name) {
  const size_t slash = path.rfind('/');
  const size_t base = slash == std::string_view::npos ? 0 : slash + 1;
  const size_t dot = path.rfind('.');
  // A dot in a directory name, or leading a hidden file's name, is not an
  // extension.
  if (dot == std::string_view::npos || dot <= base) {
    return absl::StrCat(std::string(path), ".", std::string(name));
  }
  return absl::StrCat(std::string(path.substr(0, dot)), ".", std::string(name),
                      std::string(path.substr(dot)));
}

}  // namespace brisk::loadgen
