// Small, allocation-conscious helpers for the HTTP wire format: request targets and response
// heads. Internal to continuum_http; kept separate so they can be unit-tested without sockets.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace continuum::http::internal {

// Splits a request target into a percent-decoded path and the raw query (without '?').
// Accepts origin-form ("/a/b?x=1"), absolute-form ("http://host/a?x") and "*".
// Returns false for anything else, for a raw control character or space (IsRequestTarget), for
// malformed percent-escapes and for an encoded NUL.
bool ParseTarget(std::string_view target, std::string& path, std::string& query);

// Decodes %XX escapes ('+' is left alone: it only means space in form-encoded queries).
bool PercentDecode(std::string_view in, std::string& out);

enum class ConnectionHeader { kNone, kClose, kKeepAlive };

struct ResponseHead {
  int status = 200;
  std::string_view content_type;  // omitted when empty
  const std::vector<std::pair<std::string, std::string>>* extra = nullptr;
  size_t content_length = 0;
  ConnectionHeader connection = ConnectionHeader::kNone;
};

// True when a response with this status may carry a body (and a Content-Length).
bool StatusAllowsBody(int status);

// True when an extra response header supplied by a handler asks for "Connection: close".
bool ExtraHeadersRequestClose(const std::vector<std::pair<std::string, std::string>>& headers);

// Appends "HTTP/1.1 <status> <reason>\r\n...\r\n" to `out`. Adds Server, Date, Content-Type,
// Content-Length (unless the status forbids a body) and Connection. Extra headers that cannot be
// written on one line (a name that is not a token, a value holding a control character other
// than HTAB: see http/validate.h) or that the server controls (Content-Length,
// Transfer-Encoding, Connection, Server, Date) are skipped, and so is such a content type.
void AppendResponseHead(std::string& out, const ResponseHead& head);

// {"error":"<escaped message>"}
std::string JsonError(std::string_view message);

}  // namespace continuum::http::internal
