#include "http/internal/request_writer.h"

#include <boost/beast/http/write.hpp>
#include <exception>
#include <sstream>
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

StatusOr<std::string> WriteClientRequest(const ParsedUrl& url, ClientRequest request) {
  ASSIGN_OR_RETURN(internal::ClientWireRequest req, internal::BuildClientRequest(url, std::move(request)));
  std::ostringstream out;
  out << req;
  return out.str();
}

}  // namespace continuum::http
