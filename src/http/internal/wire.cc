#include "http/internal/wire.h"

#include <boost/beast/http/status.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <ostream>  // Boost 1.74 string_view needs it complete

#include "http/validate.h"

namespace continuum::http::internal {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

bool ServerControlled(std::string_view name) {
  return IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
         IEquals(name, "connection") || IEquals(name, "server") || IEquals(name, "date");
}

// "Sun, 06 Nov 1994 08:49:37 GMT", formatted at most once per second per thread.
std::string_view HttpDate() {
  struct Cache {
    std::time_t second = -1;
    char text[32] = {};
    size_t size = 0;
  };
  thread_local Cache cache;
  const std::time_t now = std::time(nullptr);
  if (now != cache.second) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&now, &tm);
    const int n = std::snprintf(cache.text, sizeof(cache.text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                                kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900,
                                tm.tm_hour, tm.tm_min, tm.tm_sec);
    cache.size = n > 0 ? static_cast<size_t>(n) : 0;
    cache.second = now;
  }
  return {cache.text, cache.size};
}

void AppendNumber(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(end - buf));
}

}  // namespace

bool PercentDecode(std::string_view in, std::string& out) {
  const size_t first = in.find('%');
  if (first == std::string_view::npos) {
    out.assign(in);
    return true;
  }
  out.clear();
  out.reserve(in.size());
  out.append(in.substr(0, first));
  for (size_t i = first; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexValue(in[i + 1]);
    const int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    const char decoded = static_cast<char>(hi * 16 + lo);
    if (decoded == '\0') return false;
    out.push_back(decoded);
    i += 2;
  }
  return true;
}

bool ParseTarget(std::string_view target, std::string& path, std::string& query) {
  query.clear();
  // A control character or a space cannot be part of a target: refused whatever the parser let by.
  if (!IsRequestTarget(target)) return false;
  if (target == "*") {
    path.assign("*");
    return true;
  }
  if (target.empty()) return false;
  if (target.front() != '/') {
    // absolute-form: scheme "://" authority [path-abempty] ["?" query]
    const size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) return false;
    for (size_t i = 0; i < scheme_end; ++i) {
      const char c = target[i];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
      if (!ok) return false;
    }
    target.remove_prefix(scheme_end + 3);
    const size_t path_start = target.find_first_of("/?#");
    if (path_start == std::string_view::npos) {
      path.assign("/");
      return true;
    }
    target.remove_prefix(path_start);
    if (target.front() != '/') {
      path.assign("/");
      if (target.front() == '#') return true;
      target.remove_prefix(1);  // '?'
      const size_t hash = target.find('#');
      query.assign(target.substr(0, hash));
      return true;
    }
  }
  const size_t hash = target.find('#');
  if (hash != std::string_view::npos) target = target.substr(0, hash);
  const size_t q = target.find('?');
  if (q != std::string_view::npos) {
    query.assign(target.substr(q + 1));
    target = target.substr(0, q);
  }
  return PercentDecode(target, path);
}

bool StatusAllowsBody(int status) { return status >= 200 && status != 204 && status != 304; }

bool ExtraHeadersRequestClose(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (IEquals(name, "connection") && IEquals(value, "close")) return true;
  }
  return false;
}

void AppendResponseHead(std::string& out, const ResponseHead& head) {
  namespace bh = boost::beast::http;
  const auto status = bh::int_to_status(static_cast<unsigned>(head.status));
  std::string_view reason = "Unknown";
  if (status != bh::status::unknown) {
    const auto r = bh::obsolete_reason(status);
    reason = std::string_view(r.data(), r.size());
  }
  out.append("HTTP/1.1 ");
  AppendNumber(out, static_cast<uint64_t>(head.status));
  out.push_back(' ');
  out.append(reason);
  out.append("\r\nServer: continuum\r\nDate: ");
  out.append(HttpDate());
  out.append("\r\n");
  if (!head.content_type.empty() && IsFieldValue(head.content_type)) {
    out.append("Content-Type: ");
    out.append(head.content_type);
    out.append("\r\n");
  }
  if (StatusAllowsBody(head.status)) {
    out.append("Content-Length: ");
    AppendNumber(out, head.content_length);
    out.append("\r\n");
  }
  if (head.extra != nullptr) {
    for (const auto& [name, value] : *head.extra) {
      if (!IsToken(name) || !IsFieldValue(value) || ServerControlled(name)) continue;
      out.append(name);
      out.append(": ");
      out.append(value);
      out.append("\r\n");
    }
  }
  switch (head.connection) {
    case ConnectionHeader::kNone: break;
    case ConnectionHeader::kClose: out.append("Connection: close\r\n"); break;
    case ConnectionHeader::kKeepAlive: out.append("Connection: keep-alive\r\n"); break;
  }
  out.append("\r\n");
}

std::string JsonError(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 16);
  out.append("{\"error\":\"");
  for (char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.append("\"}");
  return out;
}

}  // namespace continuum::http::internal
