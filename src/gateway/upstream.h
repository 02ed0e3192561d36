// Upstream HTTP/1.1 client used by the gateway to reach inference nodes (Boost.Beast/Asio).
// One io_context, run by the client's own thread (or a shared http::IoLoop); keep-alive connections are
// pooled per host:port. Every call has a deadline and can be cancelled (hedging). Thread-safe: Send and
// Cancel may be called from any thread; callbacks run on the client's I/O thread and must not
// block.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace continuum::http {
class IoLoop;
}  // namespace continuum::http

namespace continuum::gateway {

struct UpstreamRequest {
  std::string method = "POST";
  std::string target;  // path and query, appended to the node URL's path prefix
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct UpstreamResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  double duration_ms = 0;

  const std::string* Header(std::string_view lower_name) const;
};

// Ok with a response (any HTTP status), or an error: Unavailable (connect/read/write failure,
// not valid HTTP), DeadlineExceeded (timed out), "cancelled" (Unavailable) after Cancel, or
// InvalidArgument for a request that cannot be written safely (see request_writer.h; nothing
// was sent).
using UpstreamCallback = std::function<void(StatusOr<UpstreamResponse>)>;

class UpstreamCall {
 public:
  virtual ~UpstreamCall() = default;
  // Abandons the call; its callback still runs once, with an error. Idempotent.
  virtual void Cancel() = 0;
};

struct UpstreamOptions {
  size_t max_idle_per_host = 16;
  size_t max_response_bytes = 256u << 20;
  // Run on this loop (shared with the HTTP server in front, so a forwarded request never changes
  // threads) instead of a thread of the client's own. The client stops the loop when destroyed:
  // stop everything else that posts to it first.
  std::shared_ptr<http::IoLoop> loop;
};

class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamOptions options = {});
  ~UpstreamClient();  // stops the I/O thread; pending callbacks run with errors or not at all
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // `base_url` is "http://host:port[/prefix]". The callback runs exactly once.
  std::shared_ptr<UpstreamCall> Send(const std::string& base_url, UpstreamRequest request,
                                     std::chrono::steady_clock::time_point deadline,
                                     UpstreamCallback callback);

  // Runs `fn` on the I/O thread after `delay` unless the returned handle is cancelled first.
  std::shared_ptr<UpstreamCall> After(std::chrono::microseconds delay, std::function<void()> fn);
  // Runs `fn` on the I/O thread as soon as possible.
  void Post(std::function<void()> fn);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct ParsedUrl {
  std::string host;
  std::string port;
  std::string prefix;  // path prefix without trailing '/', may be empty
};
StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url);

}  // namespace continuum::gateway
