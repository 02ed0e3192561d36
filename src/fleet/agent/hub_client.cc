// The agent's calls to the hub (hub_client.h).
#include "fleet/agent/hub_client.h"

#include <simdjson.h>

#include "fleet/agent/report.h"
#include "tls/client_context.h"

namespace continuum::fleet {

namespace {

constexpr int64_t kMaxErrorText = 200;

}  // namespace

std::string HubError(const http::ClientResponse& r) {
  simdjson::dom::parser parser;
  std::string_view error;
  if (r.body.size() < (1 << 20) && !parser.parse(r.body)["error"].get(error))
    return "HTTP " + std::to_string(r.status) + ": " + std::string(error.substr(0, 4 * kMaxErrorText));
  return "HTTP " + std::to_string(r.status) +
         (r.body.empty() ? "" : ": " + r.body.substr(0, static_cast<size_t>(kMaxErrorText)));
}

uint64_t HubClient::RequestBytes(const std::string& host, const http::ClientRequest& r) {
  uint64_t n = r.method.size() + 1 + r.target.size() + 11;  // "GET /x HTTP/1.1\r\n"
  n += 6 + host.size() + 2;                                 // "Host: h\r\n"
  for (const auto& [k, v] : r.headers) n += k.size() + 2 + v.size() + 2;
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT")
    n += 16 + std::to_string(r.body.size()).size() + 2;  // "Content-Length: N\r\n"
  return n + 2 + r.body.size();
}

uint64_t HubClient::ResponseBytes(const http::ClientResponse& r) {
  uint64_t n = 17;  // "HTTP/1.1 200 OK\r\n", about
  for (const auto& [k, v] : r.headers) n += k.size() + 2 + v.size() + 2;
  return n + 2 + r.body.size();
}

StatusOr<std::unique_ptr<HubClient>> HubClient::Create(const HubClientOptions& options) {
  ASSIGN_OR_RETURN(http::ParsedUrl url, http::ParseHttpUrl(options.hub_url));
  http::ClientOptions co;
  co.max_idle_per_host = 2;
  co.max_response_bytes = static_cast<size_t>(options.max_response_bytes);
  if (url.tls && (!options.ca_file.empty() || !options.cert_file.empty())) {
    tls::ClientTlsOptions t;
    t.ca_file = options.ca_file;
    t.cert_file = options.cert_file;
    t.key_file = options.key_file;
    ASSIGN_OR_RETURN(co.tls, tls::ClientContext::Create(t));
  }
  const bool default_port = url.port == (url.tls ? "443" : "80");
  std::string host = default_port ? url.host : url.host + ":" + url.port;
  return std::unique_ptr<HubClient>(
      new HubClient(options, std::make_unique<http::Client>(std::move(co)), std::move(host)));
}

HubClient::HubClient(HubClientOptions options, std::unique_ptr<http::Client> client, std::string host)
    : options_(std::move(options)), host_(std::move(host)), client_(std::move(client)) {}

HubClient::~HubClient() = default;

std::shared_ptr<http::ClientCall> HubClient::Send(http::ClientRequest request,
                                                  std::chrono::milliseconds timeout,
                                                  http::ClientCallback done) {
  if (!options_.token.empty()) request.headers.emplace_back("Authorization", "Bearer " + options_.token);
  bytes_sent_ += RequestBytes(host_, request);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  return client_->Send(options_.hub_url, std::move(request), deadline,
                       [this, done = std::move(done)](StatusOr<http::ClientResponse> r) {
                         if (r.ok()) bytes_received_ += ResponseBytes(*r);
                         done(std::move(r));
                       });
}

std::shared_ptr<http::ClientCall> HubClient::Report(std::string body, ReportCallback done) {
  http::ClientRequest req;
  req.method = "POST";
  req.target = "/api/v1/nodes/" + options_.node + "/report";
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::move(body);
  return Send(std::move(req), std::chrono::milliseconds(options_.request_timeout_ms),
              [done = std::move(done)](StatusOr<http::ClientResponse> r) {
                if (!r.ok()) return done(r.status());
                if (r->status != 200) return done(Unavailable(HubError(*r)));
                done(ParseReportAnswer(r->body));
              });
}

std::shared_ptr<http::ClientCall> HubClient::Poll(int64_t after, int64_t wait_s, PollCallback done) {
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/api/v1/nodes/" + options_.node + "/desired-state?after=" + std::to_string(after) +
               "&wait_s=" + std::to_string(wait_s);
  const auto timeout = std::chrono::milliseconds(options_.request_timeout_ms + wait_s * 1000);
  return Send(std::move(req), timeout, [done = std::move(done)](StatusOr<http::ClientResponse> r) {
    if (!r.ok()) return done(r.status());
    if (r->status == 200) return done(PollAnswer{200, std::move(r->body)});
    if (r->status == 304 || r->status == 404) return done(PollAnswer{r->status, ""});
    done(Unavailable(HubError(*r)));
  });
}

}  // namespace continuum::fleet
