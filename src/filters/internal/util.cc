#include "filters/internal/util.h"

#include <openssl/rand.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "api/http_status.h"
#include "api/v2_codec.h"

namespace continuum::filters {

namespace {
bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

http::Response JsonError(int http_status, std::string_view message) {
  http::Response r;
  r.status = http_status;
  r.body = v2::ErrorBody(message);
  return r;
}

http::Response ErrorFor(const Status& status) {
  return JsonError(HttpStatusFor(status.code()), status.message());
}

const std::string* ResponseHeader(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (IEquals(k, name)) return &v;
  return nullptr;
}

void SetHeader(http::Response& r, std::string_view name, std::string value) {
  std::erase_if(r.headers, [&](const auto& h) { return IEquals(h.first, name); });
  r.headers.emplace_back(std::string(name), std::move(value));
}

void RemoveHeader(http::Request& r, std::string_view lower_name) {
  std::erase_if(r.headers, [&](const auto& h) { return h.first == lower_name; });
}

FoundHeader FirstHeader(const http::Request& r, std::initializer_list<std::string_view> lower_names) {
  for (auto n : lower_names)
    if (const std::string* v = r.Header(n)) return {n, v};
  return {};
}

StatusOr<std::optional<int64_t>> IntHeader(const http::Request& r,
                                           std::initializer_list<std::string_view> names, int64_t min,
                                           int64_t max, std::string_view unit) {
  FoundHeader h = FirstHeader(r, names);
  if (!h.value) return std::optional<int64_t>();
  int64_t v = 0;
  const std::string& s = *h.value;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v < min || v > max) {
    return InvalidArgument("header '" + std::string(h.name) + "': expected a whole number of " +
                           std::string(unit) + " between " + std::to_string(min) + " and " +
                           std::to_string(max) + ", got '" + s.substr(0, 64) + "'");
  }
  return std::optional<int64_t>(v);
}

StatusOr<std::optional<bool>> BoolHeader(const http::Request& r,
                                         std::initializer_list<std::string_view> names) {
  FoundHeader h = FirstHeader(r, names);
  if (!h.value) return std::optional<bool>();
  const std::string& s = *h.value;
  if (IEquals(s, "true") || s == "1") return std::optional<bool>(true);
  if (IEquals(s, "false") || s == "0") return std::optional<bool>(false);
  return InvalidArgument("header '" + std::string(h.name) + "': expected true or false, got '" +
                         s.substr(0, 64) + "'");
}

bool GlobMatch(std::string_view p, std::string_view s) {
  // Iterative matcher with one back-track point: linear in practice, no recursion.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool AnyGlobMatches(const std::vector<std::string>& patterns, std::string_view s) {
  for (const auto& p : patterns)
    if (GlobMatch(p, s)) return true;
  return false;
}

StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return Internal("the random number generator failed");
  }
  return HexEncode(raw);
}

std::string NewRequestId() {
  static const std::string prefix = [] {
    auto r = RandomHex(8);
    if (r.ok()) return *r;
    // Without the random generator: time and process id keep ids distinct across restarts.
    char buf[32];
    std::snprintf(
        buf, sizeof buf, "%016llx",
        static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count()) ^
            (static_cast<unsigned long long>(getpid()) << 48));
    return std::string(buf);
  }();
  static std::atomic<uint64_t> counter{0};
  // The counter as 16 hex digits, written in place (snprintf cost more than the rest of the id).
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  std::string id(prefix.size() + 16, '0');
  std::copy(prefix.begin(), prefix.end(), id.begin());
  for (size_t i = id.size(); i > prefix.size() && n != 0; n >>= 4) id[--i] = kHex[n & 15];
  return id;
}

}  // namespace continuum::filters
