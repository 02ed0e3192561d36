#include "http/internal/request_writer.h"

#include <exception>
#include <string_view>
#include <utility>

#include "http/validate.h"

namespace continuum::http {

namespace bhttp = boost::beast::http;

StatusOr<internal::ClientWireRequest> internal::BuildClientRequest(const ParsedUrl& url,
                                                                   ClientRequest request) {
  std::string target = url.prefix + (request.target.empty() ? "/" : request.target);
  std::string host = url.host + ":" + url.port;
  if (Status st = CheckRequestHead(request.method, target, request.headers); !st.ok())
    return InvalidArgument("upstream request: " + st.message());
  if (Status st = CheckHeader("Host", host); !st.ok())
    return InvalidArgument("upstream request: " + st.message());
  internal::ClientWireRequest req;
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
  return req;
}

std::string internal::ClientRequestHead(const ClientWireRequest& request) {
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

StatusOr<std::string> WriteClientRequest(const ParsedUrl& url, ClientRequest request) {
  ASSIGN_OR_RETURN(internal::ClientWireRequest req, internal::BuildClientRequest(url, std::move(request)));
  std::string out = internal::ClientRequestHead(req);
  out.append(req.body());
  return out;
}

}  // namespace continuum::http
