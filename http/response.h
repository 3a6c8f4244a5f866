// brisk::http::Response: an HTTP response to be serialized by
// AppendResponse() (response_writer.h): a status, header fields and a body.
//
//   Response r = Response::Text(200, "hello\n");
//   r.AddHeader("Cache-Control", "no-store");
//
// Framing headers (Content-Length, Transfer-Encoding, Connection) and the
// other hop-by-hop ones (Keep-Alive, TE, Trailer) are written by the
// serializer; values set here for them are ignored, except a Content-Length
// on an empty answer to HEAD (a HEAD route of its own saying its GET's
// length) and a Connection field with the "close" option (AsksToClose():
// the server closes the connection after this answer, which then says
// `Connection: close`). A Date or Server header set here replaces the
// serializer's; an Upgrade header gets its `Connection: upgrade`. AddHeader() adds a field
// (a list field may repeat); SetHeader() replaces every field of that name
// (e.g. the Content-Type Text()/Json() set). A field whose name is not a
// token, or whose value holds a control character other than HTAB (CR and
// LF would split the response), is left out when the answer is written
// (silently: check values from outside before setting them).
// Ownership: a plain value type. Thread-safety: like std::string.
#ifndef BRISK_HTTP_RESPONSE_H_
#define BRISK_HTTP_RESPONSE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brisk::http {

// Reason phrase for `status` ("OK", "Not Found"); "Unknown" for others.
std::string_view ReasonPhrase(int status);

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // `body` with Content-Type: text/plain; charset=utf-8.
  static Response Text(int status, std::string body);
  // `body` with Content-Type: text/html; charset=utf-8.
  static Response Html(int status, std::string body);
  // `body` with Content-Type: application/json.
  static Response Json(int status, std::string body);
  // The status's reason phrase plus "\n" as a text/plain body ("Not Found\n").
  static Response Status(int status);

  Response& AddHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Removes every field named `name` (ASCII case-insensitive), then adds it.
  Response& SetHeader(std::string name, std::string value);
  // First header named `name` (ASCII case-insensitive), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
  // True if a Connection field lists the "close" option (any field of that
  // name, any letter case, in a list: "close", "Keep-Alive, CLOSE"): the
  // sender will close the connection after this message (RFC 9112 §9.6).
  bool AsksToClose() const;
};

}  // namespace brisk::http

#endif  // BRISK_HTTP_RESPONSE_H_
