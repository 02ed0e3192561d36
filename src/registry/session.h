// Requests to one repository of one registry: https (or loopback-only plain http), the
// registry's authentication (Basic from the Docker config, or bearer tokens from its token
// service, cached per scope), retries with backoff for 5xx answers and dropped connections.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "http/client.h"
#include "registry/client.h"
#include "registry/internal.h"

namespace continuum::registry {

// "host[:port]/name/path" split into the registry host and the repository name.
struct RepositoryName {
  std::string host, name;
};
StatusOr<RepositoryName> SplitRepository(const std::string& repository);

// A URL's base ("scheme://host[:port]") and target (path and query).
struct SplitUrl {
  std::string base, target;
};
StatusOr<SplitUrl> SplitAbsoluteUrl(const std::string& url);
// "a%3Ab" style encoding of everything but unreserved characters (RFC 3986).
std::string UrlEncode(std::string_view s);

class Session {
 public:
  // `actions`: "pull" or "pull,push", the scope asked of a token service.
  static StatusOr<std::unique_ptr<Session>> Open(const Options& options, const RepositoryName& repo,
                                                 const std::string& actions);
  ~Session();

  // One request to the registry: `request.target` is a path ("/v2/...") or an absolute URL of
  // the same registry (an upload Location). A 401 is answered once with credentials or a token.
  // When `retry`, a 5xx answer, a dropped connection or a timeout is retried with backoff up to
  // options.retries times, then fails with the last reason. Other answers are returned as they are.
  StatusOr<http::ClientResponse> Do(const http::ClientRequest& request, bool retry = true);

  // Waits the backoff of retry `attempt` (0-based).
  void Backoff(int64_t attempt) const;
  // A retryable outcome: a dropped connection, a timeout, a 5xx answer.
  static bool Retryable(const StatusOr<http::ClientResponse>& r);
  // "METHOD TARGET: HTTP 500 ..." for an answer the caller did not expect.
  static Status Unexpected(const http::ClientRequest& request, const http::ClientResponse& r);

  const RepositoryName& repo() const { return repo_; }
  const std::string& base_url() const { return base_url_; }
  const Options& options() const { return options_; }

 private:
  Session(const Options& options, RepositoryName repo, std::string actions);
  StatusOr<http::ClientResponse> SendOnce(http::ClientRequest request);
  StatusOr<http::ClientResponse> Send(const std::string& base, http::ClientRequest request);
  // Reads a 401's challenge and gets what answers it (Basic header or a token).
  Status Authenticate(const http::ClientResponse& answer);
  Status FetchToken(const Challenge& bearer, const std::string& scope);
  std::string AuthorizationHeader();

  Options options_;
  RepositoryName repo_;
  std::string actions_, base_url_;
  std::filesystem::path docker_config_;
  std::unique_ptr<http::Client> client_;
  Credentials credentials_;

  std::mutex fetch_mu_;  // held while a token is fetched
  std::mutex mu_;
  std::string basic_;  // "Basic ..." once the registry asked for it
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Token> tokens_;    // by scope
  std::map<std::string, Status> refused_;  // scopes the token service refused, and why
  std::string scope_;                      // the scope whose token goes with requests
  std::optional<Challenge> bearer_;        // the registry's token service
};

}  // namespace continuum::registry
