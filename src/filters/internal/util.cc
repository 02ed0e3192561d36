#include "filters/internal/util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>
#include <unistd.h>

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

std::string Sha256Raw(std::string_view data) {
  // Fetched once: EVP_sha256() makes EVP_Digest look the implementation up on every call (a
  // locked provider query), which cost more than hashing a cache key.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, sha256 ? sha256 : EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

namespace {
std::string Hex(std::string_view raw) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}
}  // namespace

std::string Sha256Hex(std::string_view data) { return Hex(Sha256Raw(data)); }

StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return Internal("the random number generator failed");
  }
  return Hex(raw);
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
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)));
  return prefix + buf;
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

Status SettingsReader::Parse(std::string_view json, simdjson::dom::object* out) {
  simdjson::dom::element root;
  if (auto err = parser_.parse(json.data(), json.size()).get(root); err) {
    return InvalidArgument(prefix_ + "not valid JSON: " + simdjson::error_message(err));
  }
  if (root.get_object().get(*out) != simdjson::SUCCESS)
    return InvalidArgument(prefix_ + "expected an object");
  return Status::Ok();
}

Status SettingsReader::Err(std::string_view field, std::string_view what) const {
  return InvalidArgument(prefix_ + std::string(field) + ": " + std::string(what));
}

Status SettingsReader::CheckKeys(simdjson::dom::object o, std::string_view where,
                                 std::initializer_list<std::string_view> known) const {
  for (auto [k, v] : o) {
    bool found = false;
    for (auto n : known) found = found || n == k;
    if (!found) {
      std::string list;
      for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      return Err(std::string(where) + (where.empty() ? "" : ".") + std::string(k),
                 "unknown field (known: " + list + ")");
    }
  }
  return Status::Ok();
}

StatusOr<int64_t> SettingsReader::Int(simdjson::dom::element e, std::string_view field, int64_t min,
                                      int64_t max) const {
  int64_t v;
  if (e.get_int64().get(v) != simdjson::SUCCESS) return Err(field, "expected an integer");
  if (v < min || v > max) {
    return Err(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                          std::to_string(v));
  }
  return v;
}

StatusOr<double> SettingsReader::Number(simdjson::dom::element e, std::string_view field, double min,
                                        double max) const {
  double v;
  int64_t i;
  if (e.get_double().get(v) != simdjson::SUCCESS) {
    if (e.get_int64().get(i) != simdjson::SUCCESS) return Err(field, "expected a number");
    v = static_cast<double>(i);
  }
  if (!std::isfinite(v) || v < min || v > max) {
    return Err(field, "must be between " + FormatDouble(min) + " and " + FormatDouble(max) + ", got " +
                          FormatDouble(v));
  }
  return v;
}

StatusOr<std::string> SettingsReader::String(simdjson::dom::element e, std::string_view field,
                                             bool nonempty) const {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return Err(field, "expected a string");
  if (nonempty && s.empty()) return Err(field, "must not be empty");
  return std::string(s);
}

StatusOr<bool> SettingsReader::Bool(simdjson::dom::element e, std::string_view field) const {
  bool b;
  if (e.get_bool().get(b) != simdjson::SUCCESS) return Err(field, "expected true or false");
  return b;
}

StatusOr<std::vector<std::string>> SettingsReader::StringList(simdjson::dom::element e,
                                                              std::string_view field) const {
  simdjson::dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return Err(field, "expected an array of strings");
  std::vector<std::string> out;
  size_t i = 0;
  for (auto x : a) {
    std::string_view s;
    if (x.get_string().get(s) != simdjson::SUCCESS || s.empty()) {
      return Err(std::string(field) + "[" + std::to_string(i) + "]", "expected a non-empty string");
    }
    out.emplace_back(s);
    ++i;
  }
  return out;
}

StatusOr<simdjson::dom::object> SettingsReader::Object(simdjson::dom::element e,
                                                       std::string_view field) const {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return Err(field, "expected an object");
  return o;
}

StatusOr<simdjson::dom::array> SettingsReader::Array(simdjson::dom::element e, std::string_view field) const {
  simdjson::dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return Err(field, "expected an array");
  return a;
}

}  // namespace continuum::filters
