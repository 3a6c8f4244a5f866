// Properties of request methods (RFC 9110 §9.2), for the server and its
// clients alike.
#ifndef BRISK_HTTP_METHOD_H_
#define BRISK_HTTP_METHOD_H_

#include <string_view>

namespace brisk::http {

// A safe method (RFC 9110 §9.2.1: GET, HEAD, OPTIONS, TRACE): read-only by
// definition. Pipelined requests may be processed in parallel only when all
// are safe (RFC 9112 §9.3.2).
inline bool IsSafeMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

// An idempotent method (RFC 9110 §9.2.2: the safe ones, PUT, DELETE): a
// client may send such a request again when its connection closed before
// the answer came (RFC 9112 §9.3.1).
inline bool IsIdempotentMethod(std::string_view method) {
  return IsSafeMethod(method) || method == "PUT" || method == "DELETE";
}

}  // namespace brisk::http

#endif  // BRISK_HTTP_METHOD_H_
