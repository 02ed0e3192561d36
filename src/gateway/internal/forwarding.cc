#include "gateway/internal/forwarding.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "common/json_writer.h"
#include "gateway/gateway.h"
#include "http/validate.h"

namespace continuum::gateway {

namespace {

std::string Printable(std::string_view s, size_t max) {
  std::string out(s.substr(0, max));  // one allocation, then replaced in place
  for (char& c : out)
    if (c < 0x20 || c >= 0x7f) c = '?';
  return out;
}

}  // namespace

std::string HeaderSafe(std::string_view s) { return Printable(s, 200); }

namespace internal {

void AddTags(http::Response* r, const Tags& t) {
  r->headers.reserve(r->headers.size() + 4);
  r->headers.emplace_back("X-Continuum-Tier", t.tier);
  r->headers.emplace_back("X-Continuum-Node", HeaderSafe(t.node));
  r->headers.emplace_back("X-Continuum-Fallback-Step", t.step);
  r->headers.emplace_back("X-Continuum-Reason", HeaderSafe(t.reason));
}

std::string ErrorJson(std::string_view message) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("error").String(Printable(message, 4096)).EndObject();
  return out;
}

http::Response LocalAnswer(int status, std::string body, const Tags& tags) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  AddTags(&r, tags);
  return r;
}

// Connection, Keep-Alive, Proxy-Authenticate, Proxy-Authorization, Proxy-Connection, TE,
// Trailer, Transfer-Encoding, Upgrade (the names a Connection header lists are in
// ConnectionOptions); and what the HTTP layer writes itself.
bool HopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection",
                                                "keep-alive",
                                                "proxy-authenticate",
                                                "proxy-authorization",
                                                "proxy-connection",
                                                "te",
                                                "trailer",
                                                "transfer-encoding",
                                                "upgrade",
                                                "expect",
                                                "content-length",
                                                "host",
                                                "server",
                                                "date",
                                                "content-type"};
  // The lengths of those names, one bit each: most headers are ruled out without a comparison.
  static constexpr uint64_t kLengths = [] {
    uint64_t bits = 0;
    for (std::string_view n : kNames) bits |= uint64_t{1} << n.size();
    return bits;
  }();
  if (name.size() >= 64 || ((kLengths >> name.size()) & 1) == 0) return false;
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

std::vector<std::string> ConnectionOptions(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::string> named;
  for (const auto& [k, v] : headers) {
    if (k != "connection") continue;
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string_view item(v.data() + start, comma - start);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) {
        std::string name(item);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        named.push_back(std::move(name));
      }
      start = comma + 1;
    }
  }
  return named;
}

bool Forwarded(std::string_view lower_name, const std::vector<std::string>& named) {
  return !HopByHop(lower_name) && std::find(named.begin(), named.end(), lower_name) == named.end();
}

bool IsRoutingTag(std::string_view lower_name) {
  return lower_name == "x-continuum-tier" || lower_name == "x-continuum-node" ||
         lower_name == "x-continuum-fallback-step" || lower_name == "x-continuum-reason";
}

std::string UpstreamTarget(const http::Request& req) {
  if (!req.target.empty() && req.target.front() == '/') return req.target.substr(0, req.target.find('#'));
  return http::EncodePath(req.path) + (req.query.empty() ? "" : "?" + req.query);
}

StatusOr<http::ClientRequest> UpstreamHead(const http::Request& req) {
  http::ClientRequest up;
  up.method = req.method;
  up.target = UpstreamTarget(req);
  const std::vector<std::string> named = ConnectionOptions(req.headers);
  up.headers.reserve(req.headers.size() + 1);
  for (auto& [k, v] : req.headers)
    if (Forwarded(k, named)) up.headers.emplace_back(k, v);
  if (const std::string* ct = req.Header("content-type")) up.headers.emplace_back("content-type", *ct);
  if (Status st = http::CheckRequestHead(up.method, up.target, up.headers); !st.ok()) return st;
  return up;
}

http::Response ForwardedAnswer(http::ClientResponse&& answer) {
  http::Response r;
  r.status = answer.status;
  r.content_type = "";
  const std::vector<std::string> named = ConnectionOptions(answer.headers);
  r.headers.reserve(answer.headers.size() + 4);  // and the routing tags
  for (auto& [k, v] : answer.headers) {
    if (k == "content-type") {
      r.content_type = std::move(v);
    } else if (Forwarded(k, named) && !IsRoutingTag(k)) {  // node timings pass through
      r.headers.emplace_back(std::move(k), std::move(v));
    }
  }
  r.body = std::move(answer.body);
  return r;
}

}  // namespace internal
}  // namespace continuum::gateway
