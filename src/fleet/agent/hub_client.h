// The agent's side of the hub protocol: the two calls an agent makes (report, long-poll of the
// desired state), asynchronous so that the agent's loop can wait for either, a timer or a stop;
// every call carries the bearer token when there is one, and its bytes (request and answer,
// headers included, as HTTP/1.1 frames them) are counted: the control plane's cost.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/client.h"

namespace continuum::fleet {

struct HubClientOptions {
  std::string hub_url;  // http(s)://host:port[/prefix]
  std::string node;
  std::string token;                     // bearer token; empty: none
  std::string ca_file;                   // https: PEM CA bundle; empty: the system trust store
  std::string cert_file, key_file;       // https: this node's client certificate and key (mutual TLS)
  int64_t request_timeout_ms = 30000;    // a report; a poll gets its wait on top
  int64_t max_response_bytes = 8 << 20;  // a desired-state envelope or an answer
};

// What a desired-state poll answered.
struct PollAnswer {
  int status = 0;        // 200 (envelope), 304 (no change), 404 (unknown node: report first)
  std::string envelope;  // with 200
};

class HubClient {
 public:
  static StatusOr<std::unique_ptr<HubClient>> Create(const HubClientOptions& options);
  ~HubClient();

  using ReportCallback = std::function<void(StatusOr<int64_t> hub_sequence)>;
  using PollCallback = std::function<void(StatusOr<PollAnswer>)>;

  // POST /api/v1/nodes/{node}/report. The callback runs once, on the client's I/O thread:
  // the hub's sequence, or an error (transport, or a status other than 200 with the hub's
  // message).
  std::shared_ptr<http::ClientCall> Report(std::string body, ReportCallback done);
  // GET /api/v1/nodes/{node}/desired-state?after=SEQ&wait_s=W.
  std::shared_ptr<http::ClientCall> Poll(int64_t after, int64_t wait_s, PollCallback done);

  // Control-plane bytes so far (requests and answers, headers included).
  uint64_t bytes_sent() const { return bytes_sent_.load(); }
  uint64_t bytes_received() const { return bytes_received_.load(); }

  // The bytes HTTP/1.1 frames a request or an answer in (request line or status line, headers,
  // the Host and Content-Length headers the client adds, body).
  static uint64_t RequestBytes(const std::string& host, const http::ClientRequest& r);
  static uint64_t ResponseBytes(const http::ClientResponse& r);

 private:
  HubClient(HubClientOptions options, std::unique_ptr<http::Client> client, std::string host);
  std::shared_ptr<http::ClientCall> Send(http::ClientRequest request, std::chrono::milliseconds timeout,
                                         http::ClientCallback done);

  HubClientOptions options_;
  std::string host_;
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0};
  std::unique_ptr<http::Client> client_;  // last: destroyed first, its callbacks count bytes
};

// The hub's error message from a non-2xx answer ({"error": "..."}), else the status and body's
// start.
std::string HubError(const http::ClientResponse& r);

}  // namespace continuum::fleet
