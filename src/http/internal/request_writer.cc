#include "http/internal/request_writer.h"

#include <strings.h>

#include <charconv>
#include <exception>
#include <string_view>
#include <utility>

#include "http/validate.h"

namespace continuum::http {

namespace bhttp = boost::beast::http;

namespace {

using BeastRequest = bhttp::request<bhttp::string_body>;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// What Beast stores of a field value: without leading and trailing spaces and tabs.
std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// True when Beast would write the headers as given (values trimmed), in order: none that Host,
// keep_alive or prepare_payload rewrite, no name twice (set() keeps only the last).
bool WrittenAsGiven(const ClientRequest& r) {
  if (r.method == "TRACE") return false;  // prepare_payload may refuse it
  for (size_t i = 0; i < r.headers.size(); ++i) {
    const std::string& name = r.headers[i].first;
    if (IEquals(name, "host") || IEquals(name, "connection") || IEquals(name, "content-length") ||
        IEquals(name, "transfer-encoding"))
      return false;
    for (size_t j = 0; j < i; ++j)
      if (IEquals(name, r.headers[j].first)) return false;
  }
  return true;
}

// The head Beast's serializer writes for `request`.
std::string SerializedHead(const BeastRequest& request) {
  constexpr std::string_view kVersion = " HTTP/1.1\r\n";
  size_t size = request.method_string().size() + 1 + request.target().size() + kVersion.size() + 2;
  for (const auto& f : request) size += f.name_string().size() + 2 + f.value().size() + 2;
  std::string out;
  out.reserve(size);
  out.append(request.method_string().data(), request.method_string().size());
  out.push_back(' ');
  out.append(request.target().data(), request.target().size());
  out.append(kVersion);
  for (const auto& f : request) {
    out.append(f.name_string().data(), f.name_string().size());
    out.append(": ");
    out.append(f.value().data(), f.value().size());
    out.append("\r\n");
  }
  out.append("\r\n");
  return out;
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

}  // namespace

StatusOr<BeastRequest> internal::BeastClientRequest(const ParsedUrl& url, ClientRequest request) {
  std::string target = url.prefix + (request.target.empty() ? "/" : request.target);
  std::string host = url.host + ":" + url.port;
  if (Status st = CheckRequestHead(request.method, target, request.headers); !st.ok())
    return InvalidArgument("upstream request: " + st.message());
  if (Status st = CheckHeader("Host", host); !st.ok())
    return InvalidArgument("upstream request: " + st.message());
  BeastRequest req;
  req.method_string(request.method);
  req.target(target);
  req.version(11);
  for (auto& [k, v] : request.headers) req.set(k, v);
  req.set(bhttp::field::host, host);
  req.keep_alive(true);
  req.body() = std::move(request.body);
  try {
    req.prepare_payload();  // refuses a body with TRACE by throwing
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("upstream request: ") + e.what());
  }
  if (request.body_source) {  // the length of the body written from the source
    if (request.body_source_bytes > 0 && req.method() == bhttp::verb::trace)
      return InvalidArgument("upstream request: a TRACE request has no body");
    if (request.body_source_bytes > 0) req.content_length(request.body_source_bytes);
  }
  return req;
}

StatusOr<internal::ClientWireRequest> internal::BuildClientRequest(const ParsedUrl& url,
                                                                   ClientRequest request) {
  ClientWireRequest out;
  if (request.body_source && !request.body.empty())
    return InvalidArgument("upstream request: a body and a body source at once");
  if (!WrittenAsGiven(request)) {
    ASSIGN_OR_RETURN(BeastRequest req, BeastClientRequest(url, std::move(request)));
    out.head = SerializedHead(req);
    out.payload = std::move(req.body());
    return out;
  }
  const std::string_view target = request.target.empty() ? std::string_view("/") : request.target;
  std::string& head = out.head;
  head.reserve(request.method.size() + url.prefix.size() + target.size() + url.host.size() + url.port.size() +
               64 + [&] {
                 size_t n = 0;
                 for (const auto& [k, v] : request.headers) n += k.size() + v.size() + 4;
                 return n;
               }());
  head.append(request.method);
  head.push_back(' ');
  const size_t target_at = head.size();
  head.append(url.prefix);
  head.append(target);
  const std::string_view full_target(head.data() + target_at, head.size() - target_at);
  if (Status st = CheckRequestHead(request.method, full_target, request.headers); !st.ok())
    return InvalidArgument("upstream request: " + st.message());
  head.append(" HTTP/1.1\r\n");
  for (const auto& [k, v] : request.headers) AppendField(head, k, TrimOws(v));
  const size_t host_at = head.size();
  head.append("Host: ");
  head.append(url.host);
  head.push_back(':');
  head.append(url.port);
  if (Status st = CheckHeader("Host", std::string_view(head).substr(host_at + 6)); !st.ok())
    return InvalidArgument("upstream request: " + st.message());
  head.append("\r\n");
  // prepare_payload: a length for a body, and for OPTIONS, PUT and POST also without one.
  const std::string& m = request.method;
  const uint64_t body_bytes = request.body_source ? request.body_source_bytes : request.body.size();
  if (body_bytes > 0 || m == "OPTIONS" || m == "PUT" || m == "POST") {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, body_bytes);
    AppendField(head, "Content-Length", std::string_view(digits, end - digits));
  }
  head.append("\r\n");
  out.payload = std::move(request.body);
  return out;
}

StatusOr<std::string> WriteClientRequest(const ParsedUrl& url, ClientRequest request) {
  ASSIGN_OR_RETURN(internal::ClientWireRequest req, internal::BuildClientRequest(url, std::move(request)));
  std::string out = std::move(req.head);
  out.append(req.payload);
  return out;
}

}  // namespace continuum::http
