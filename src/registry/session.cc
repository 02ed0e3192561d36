#include "registry/session.h"

#include <simdjson.h>

#include <algorithm>
#include <thread>

#include "common/base64.h"
#include "tls/client_context.h"

namespace continuum::registry {

StatusOr<RepositoryName> SplitRepository(const std::string& repository) {
  size_t slash = repository.find('/');
  std::string host = repository.substr(0, slash);
  bool looks_like_host = host.find('.') != std::string::npos || host.find(':') != std::string::npos ||
                         host == "localhost" || (!host.empty() && host.front() == '[');
  if (slash == std::string::npos || !looks_like_host || slash + 1 >= repository.size())
    return InvalidArgument(
        "reference " + Quoted(repository) +
        " names no registry: give host[:port]/repository:tag, e.g. localhost:5000/models/m:1");
  return RepositoryName{host, repository.substr(slash + 1)};
}

StatusOr<SplitUrl> SplitAbsoluteUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos ||
      (url.compare(0, scheme, "http") != 0 && url.compare(0, scheme, "https") != 0))
    return InvalidArgument("not an http(s) URL: " + Quoted(url));
  size_t path = url.find('/', scheme + 3);
  if (path == std::string::npos) return SplitUrl{url, "/"};
  return SplitUrl{url.substr(0, path), url.substr(path)};
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

namespace {

// The host of "scheme://host[:port]" without its port.
std::string HostOnly(std::string_view hostport) {
  if (!hostport.empty() && hostport.front() == '[')
    return std::string(hostport.substr(0, hostport.find(']') + 1));
  return std::string(hostport.substr(0, hostport.find(':')));
}

Status RefusePlainHttp(const std::string& hostport, const std::string& what) {
  return FailedPrecondition(what + " " + hostport +
                            " over plain http is refused: only a loopback host (localhost, 127.0.0.0/8, ::1) "
                            "may be reached without TLS");
}

}  // namespace

Session::Session(const Options& options, RepositoryName repo, std::string actions)
    : options_(options), repo_(std::move(repo)), actions_(std::move(actions)) {}

Session::~Session() = default;

StatusOr<std::unique_ptr<Session>> Session::Open(const Options& options, const RepositoryName& repo,
                                                 const std::string& actions) {
  if (options.insecure && !IsLoopbackHost(HostOnly(repo.host)))
    return RefusePlainHttp(repo.host, "--insecure: registry");
  std::unique_ptr<Session> s(new Session(options, repo, actions));
  s->base_url_ = (options.insecure ? "http://" : "https://") + repo.host;
  http::ClientOptions co;
  co.max_response_bytes = static_cast<size_t>(std::max<int64_t>(options.max_manifest_bytes, 1 << 16));
  if (!options.ca_file.empty()) {
    tls::ClientTlsOptions t;
    t.ca_file = options.ca_file;
    auto ctx = tls::ClientContext::Create(t);
    if (!ctx.ok()) return FailedPrecondition("--ca-file " + options.ca_file + ": " + ctx.status().message());
    co.tls = std::move(ctx).value();
  }
  s->client_ = std::make_unique<http::Client>(std::move(co));
  s->docker_config_ =
      options.docker_config.empty() ? DefaultDockerConfig() : std::filesystem::path(options.docker_config);
  auto creds = ReadDockerConfig(s->docker_config_, repo.host);
  if (!creds.ok()) return creds.status();
  s->credentials_ = *creds;
  s->scope_ = "repository:" + repo.name + ":" + actions;
  return s;
}

void Session::Backoff(int64_t attempt) const {
  int64_t ms = options_.retry_backoff_ms << std::min<int64_t>(attempt, 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(ms, 30000)));
}

bool Session::Retryable(const StatusOr<http::ClientResponse>& r) {
  if (r.ok()) return r->status >= 500;
  return r.status().code() == StatusCode::kUnavailable || r.status().code() == StatusCode::kDeadlineExceeded;
}

Status Session::Unexpected(const http::ClientRequest& request, const http::ClientResponse& r) {
  std::string body = r.body.substr(0, 300);
  std::replace(body.begin(), body.end(), '\n', ' ');
  std::string msg = request.method + " " + request.target + ": HTTP " + std::to_string(r.status) +
                    (body.empty() ? "" : " " + body);
  if (r.status == 404) return NotFound(msg);
  if (r.status == 401 || r.status == 403) return FailedPrecondition(msg);
  if (r.status >= 500) return Unavailable(msg);
  return InvalidArgument(msg);
}

StatusOr<http::ClientResponse> Session::Do(const http::ClientRequest& request, bool retry) {
  const int64_t tries = retry ? std::max<int64_t>(options_.retries, 0) + 1 : 1;
  StatusOr<http::ClientResponse> r = Unavailable("not sent");
  for (int64_t attempt = 0; attempt < tries; ++attempt) {
    if (attempt > 0) Backoff(attempt - 1);
    r = SendOnce(request);
    if (!Retryable(r)) return r;
  }
  std::string what = request.method + " " + repo_.host + request.target;
  std::string retried = tries > 1 ? " (after " + std::to_string(tries - 1) + " retries)" : "";
  if (r.ok())
    return Unavailable(what + ": HTTP " + std::to_string(r->status) + retried + " " + r->body.substr(0, 200));
  return Status(r.status().code(), what + ": " + r.status().message() + retried);
}

std::string Session::AuthorizationHeader() {
  std::lock_guard<std::mutex> l(mu_);
  if (bearer_) {
    auto it = tokens_.find(scope_);
    if (it != tokens_.end() && std::chrono::steady_clock::now() < it->second.expires)
      return "Bearer " + it->second.value;
    return "";
  }
  return basic_;
}

StatusOr<http::ClientResponse> Session::Send(const std::string& base, http::ClientRequest request) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.timeout_ms);
  return http::SendAndWait(*client_, base, std::move(request), deadline);
}

StatusOr<http::ClientResponse> Session::SendOnce(http::ClientRequest request) {
  std::string base = base_url_;
  if (request.target.rfind("http", 0) == 0) {  // an absolute Location from the registry
    auto u = SplitAbsoluteUrl(request.target);
    if (!u.ok()) return u.status();
    if (u->base.substr(u->base.find("://")) != base_url_.substr(base_url_.find("://")))
      return InvalidArgument("the registry " + repo_.host +
                             " sent a location on another host: " + Quoted(request.target));
    request.target = u->target;
  }
  http::ClientRequest first = request;
  if (std::string auth = AuthorizationHeader(); !auth.empty())
    first.headers.emplace_back("Authorization", auth);
  auto r = Send(base, std::move(first));
  if (!r.ok() || r->status != 401) return r;
  if (Status st = Authenticate(*r); !st.ok()) return st;
  std::string auth = AuthorizationHeader();
  request.headers.emplace_back("Authorization", auth);
  auto again = Send(base, request);
  if (again.ok() && again->status == 401)
    return FailedPrecondition("registry " + repo_.host + " refused the credentials for " + repo_.host +
                              " in " + docker_config_.string() + " (HTTP 401 to " + request.method + " " +
                              request.target + ")");
  return again;
}

Status Session::Authenticate(const http::ClientResponse& answer) {
  const std::string* header = answer.Header("www-authenticate");
  if (header == nullptr)
    return FailedPrecondition("registry " + repo_.host + " answered 401 without WWW-Authenticate");
  auto challenges = ParseWwwAuthenticate(*header);
  if (!challenges.ok())
    return FailedPrecondition("registry " + repo_.host + ": " + challenges.status().message());
  for (const Challenge& c : *challenges) {
    if (c.scheme == "bearer") {
      auto realm = c.params.find("realm");
      if (realm == c.params.end())
        return FailedPrecondition("registry " + repo_.host + ": Bearer challenge without realm");
      // One token for everything the command does in its repository (the challenge names only
      // what this request needs); the challenge's own scope when it names more (a mount's source).
      const std::string own = "repository:" + repo_.name + ":" + actions_;
      auto scope = c.params.find("scope");
      bool only_own =
          scope == c.params.end() || (scope->second.rfind("repository:" + repo_.name + ":", 0) == 0 &&
                                      scope->second.find(' ') == std::string::npos);
      const std::string want = only_own ? own : scope->second;
      std::lock_guard<std::mutex> one_fetch(fetch_mu_);  // workers hit by the same 401 share one token
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = tokens_.find(want);
        if (it != tokens_.end() && std::chrono::steady_clock::now() < it->second.expires) {
          scope_ = want;
          return Status();
        }
        // A refusal holds for the command: asked once, not by every worker.
        if (auto refused = refused_.find(want); refused != refused_.end()) return refused->second;
      }
      Status st = FetchToken(c, want);
      if (st.code() == StatusCode::kFailedPrecondition) {
        std::lock_guard<std::mutex> l(mu_);
        refused_[want] = st;
      }
      return st;
    }
  }
  for (const Challenge& c : *challenges) {
    if (c.scheme != "basic") continue;
    if (credentials_.username.empty())
      return FailedPrecondition("registry " + repo_.host + " asks for credentials (Basic) and " +
                                docker_config_.string() + " has none for " + repo_.host);
    std::lock_guard<std::mutex> l(mu_);
    basic_ = "Basic " + Base64Encode(credentials_.username + ":" + credentials_.password);
    return Status();
  }
  return FailedPrecondition("registry " + repo_.host +
                            " asks for an authentication scheme this client lacks: " + *header);
}

Status Session::FetchToken(const Challenge& bearer, const std::string& scope) {
  const std::string& realm = bearer.params.at("realm");
  auto url = SplitAbsoluteUrl(realm);
  if (!url.ok())
    return FailedPrecondition("registry " + repo_.host + ": token realm " + url.status().message());
  auto parsed = http::ParseHttpUrl(url->base);
  if (!parsed.ok())
    return FailedPrecondition("token realm " + Quoted(realm) + ": " + parsed.status().message());
  if (!parsed->tls && !IsLoopbackHost(parsed->host)) return RefusePlainHttp(parsed->host, "token service");
  std::string query;
  if (auto s = bearer.params.find("service"); s != bearer.params.end())
    query += "service=" + UrlEncode(s->second);
  for (size_t start = 0; start < scope.size();) {  // one scope parameter per space-separated scope
    size_t end = std::min(scope.find(' ', start), scope.size());
    if (end > start)
      query +=
          (query.empty() ? "" : "&") + std::string("scope=") + UrlEncode(scope.substr(start, end - start));
    start = end + 1;
  }
  http::ClientRequest req;
  if (!credentials_.identity_token.empty()) {  // OAuth2 refresh token (Docker's identitytoken)
    req.method = "POST";
    req.target = url->target;
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = "grant_type=refresh_token&client_id=continuum&refresh_token=" +
               UrlEncode(credentials_.identity_token) + (query.empty() ? "" : "&" + query);
  } else {
    req.method = "GET";
    req.target = url->target + (url->target.find('?') == std::string::npos ? "?" : "&") + query;
    if (!credentials_.username.empty())
      req.headers.emplace_back("Authorization",
                               "Basic " + Base64Encode(credentials_.username + ":" + credentials_.password));
  }
  auto r = Send(url->base, req);
  if (!r.ok()) return Status(r.status().code(), "token service " + realm + ": " + r.status().message());
  if (r->status != 200)
    return FailedPrecondition(
        "token service " + realm + " refused scope " + Quoted(scope) + ": HTTP " + std::to_string(r->status) +
        (credentials_.empty() ? " (no credentials for " + repo_.host + " in " + docker_config_.string() + ")"
                              : ""));
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view token;
  if (parser.parse(r->body).get(root) || (root["token"].get(token) && root["access_token"].get(token)) ||
      token.empty())
    return FailedPrecondition("token service " + realm + " answered without token or access_token");
  int64_t expires_in = 60;
  if (int64_t v = 0; !root["expires_in"].get(v) && v > 0) expires_in = v;
  std::lock_guard<std::mutex> l(mu_);
  bearer_ = bearer;
  scope_ = scope;
  // Renewed a little early, so a token never expires in flight.
  tokens_[scope] =
      Token{std::string(token), std::chrono::steady_clock::now() + std::chrono::seconds(expires_in) -
                                    std::chrono::seconds(std::min<int64_t>(expires_in / 10, 10))};
  return Status();
}

}  // namespace continuum::registry
