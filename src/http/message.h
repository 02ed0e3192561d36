// The HTTP message types every handler speaks: Request, Response, and the Responder / Handler
// callbacks. Apart from the server (server.h) so that code which only builds, answers or forwards
// messages (the API handlers, the filter chain, the gateway, libcontinuum's in-process calls) does
// not depend on the server's options and lifecycle.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/cancel.h"
#include "common/status.h"

namespace continuum::http {

// What a request that came over TLS knows of its connection: filled once per connection, after
// the handshake, and shared by all its requests.
struct TlsInfo {
  std::string version;             // "TLSv1.3", "TLSv1.2"
  std::string cipher;              // OpenSSL's name of the suite
  std::string alpn;                // "http/1.1", or empty when the client offered no ALPN
  bool client_verified = false;    // a client certificate was presented and verified against --tls-client-ca
  std::string client_subject;      // RFC 2253 form, e.g. "CN=tenant-a,O=continuum-tests"
  std::string client_common_name;  // "tenant-a"
  std::string client_sha256;       // lower-case hex SHA-256 of the certificate's DER
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string, percent-decoded
  std::string query;   // raw query string without '?'
  // The target as received, still percent-encoded (no control character or space, see validate.h):
  // what a forwarding handler writes upstream, as the decoded path may hold CR, LF, any byte.
  // Empty for a request made in-process; clear it when rewriting `path` (it is encoded again).
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // "ip:port"
  // Set by the server when the client closes its connection while the answer is pending (the
  // answer is then not written); handlers pass it on with the work they queue. A request made
  // in-process has a token that is never set.
  CancelToken cancel;
  // The connection's TLS parameters and client certificate; null over plain HTTP and in-process.
  std::shared_ptr<const TlsInfo> tls;

  // First header with this (lower-case) name, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Called at most once, from any thread; later calls are ignored. Copies share one state. If the
// last copy is destroyed without a call, the client gets a 500. After the connection closed or
// Stop began, calling it does nothing (it is safe even after the Server is destroyed). A call
// made on the handler's own thread, inside the handler, starts the write before returning.
// A status outside 200..999 is answered as 500. Content-Length, Transfer-Encoding, Connection,
// Server and Date in `headers` are ignored (the server writes them); "Connection: close" there
// closes the connection after the response.
using Responder = std::function<void(Response)>;
using Handler = std::function<void(Request&&, Responder)>;

// Calls `handler` with `request` on this thread and waits for its answer until `deadline`: a node's
// API reached without a socket (libcontinuum, and the agent inside `continuum serve`). The handler
// must not block; its answer may come from any thread. The request gets a fresh cancel token, set
// when the deadline passes first (DeadlineExceeded), so a node that has not started the work drops
// it. Internal when the handler drops its Responder unanswered; a second answer is ignored.
StatusOr<Response> CallHandler(const Handler& handler, Request request,
                               std::chrono::steady_clock::time_point deadline);

}  // namespace continuum::http
