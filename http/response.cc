#include "http/response.h"

#include "http/ascii.h"

namespace brisk::http {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

Response WithType(int status, std::string body, const char* type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", type);
  return r;
}

}  // namespace

Response Response::Text(int status, std::string body) {
  return WithType(status, std::move(body), "text/plain; charset=utf-8");
}

Response Response::Html(int status, std::string body) {
  return WithType(status, std::move(body), "text/html; charset=utf-8");
}

Response Response::Json(int status, std::string body) {
  return WithType(status, std::move(body), "application/json");
}

Response Response::Status(int status) {
  std::string body(ReasonPhrase(status));
  body.push_back('\n');
  return Text(status, std::move(body));
}

Response& Response::SetHeader(std::string name, std::string value) {
  std::erase_if(headers,
                [&name](const auto& field) { return EqualsIgnoreCase(field.first, name); });
  return AddHeader(std::move(name), std::move(value));
}

std::optional<std::string_view> Response::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

bool Response::AsksToClose() const {
  for (const auto& [n, v] : headers) {
    if (!EqualsIgnoreCase(n, "connection")) continue;
    const bool no_close = ForEachListElement(
        v, [](std::string_view option) { return !EqualsIgnoreCase(option, "close"); });
    if (!no_close) return true;
  }
  return false;
}

}  // namespace brisk::http
