#include "gateway/hub_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/log.h"
#include "tls/client_context.h"

namespace continuum::gateway {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Unavailable(what + " " + path + ": " + std::strerror(errno));
}

Status WriteAll(int fd, std::string_view content, const std::string& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("write", path);
    content.remove_prefix(static_cast<size_t>(n));
  }
  return Status();
}

// The whole file, when it is at most `limit` bytes.
StatusOr<std::string> ReadLimited(const std::string& path, size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status st = Errno("read", path);
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit) {
      ::close(fd);
      return InvalidArgument(path + ": larger than " + std::to_string(limit) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(s.find_last_not_of(ws) + 1);
  s.erase(0, std::min(s.size(), s.find_first_not_of(ws)));
  return s;
}

// The first bytes of an error answer's body, printable, for the log.
std::string Excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  return out;
}

constexpr TopologyOrigin kOrigins[] = {TopologyOrigin::kFile, TopologyOrigin::kHub, TopologyOrigin::kCache};

}  // namespace

std::string_view TopologyOriginName(TopologyOrigin o) {
  switch (o) {
    case TopologyOrigin::kFile: return "file";
    case TopologyOrigin::kHub: return "hub";
    case TopologyOrigin::kCache: return "cache";
    case TopologyOrigin::kNone: break;
  }
  return "none";
}

Status WriteFileAtomically(const std::string& path, std::string_view content) {
  const std::filesystem::path target(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  Status st = WriteAll(fd, content, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("fsync", tmp);
  if (::close(fd) != 0 && st.ok()) st = Errno("close", tmp);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Errno("rename to", path);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Errno("open folder", dir);
  if (::fsync(dfd) != 0) st = Errno("fsync folder", dir);
  ::close(dfd);
  return st;
}

HubTopologySource::HubTopologySource(HubSourceOptions options) : options_(std::move(options)) {}

StatusOr<std::unique_ptr<HubTopologySource>> HubTopologySource::Create(const HubSourceOptions& options) {
  auto url = http::ParseHttpUrl(options.url);
  if (!url.ok()) return InvalidArgument("hub url: " + url.status().message());
  if (options.wait.count() < 1 || options.wait.count() > 3600)
    return InvalidArgument("hub wait: must be 1..3600 seconds");
  if (options.timeout.count() < 1) return InvalidArgument("hub timeout: must be at least 1 ms");
  if (options.backoff_initial.count() < 1 || options.backoff_max < options.backoff_initial)
    return InvalidArgument("hub backoff: initial must be at least 1 ms and at most the maximum");
  if (options.max_document_bytes < 1) return InvalidArgument("hub max_document_bytes: must be at least 1");
  if ((!options.ca_file.empty() || !options.cert_file.empty()) && !url->tls)
    return InvalidArgument("hub ca_file, cert_file: only for an https:// hub");
  if (options.cert_file.empty() != options.key_file.empty())
    return InvalidArgument("hub cert_file and key_file go together");
  std::unique_ptr<HubTopologySource> s(new HubTopologySource(options));
  if (!options.token_file.empty()) {
    auto token = ReadLimited(options.token_file, size_t{64} * 1024);
    if (!token.ok()) return InvalidArgument("hub token file: " + token.status().message());
    s->token_ = Trim(std::move(token).value());
    if (s->token_.empty()) return InvalidArgument("hub token file: " + options.token_file + " is empty");
  }
  http::ClientOptions co;
  co.max_response_bytes = options.max_document_bytes;
  if (url->tls) {
    tls::ClientTlsOptions to;
    to.ca_file = options.ca_file;
    to.cert_file = options.cert_file;
    to.key_file = options.key_file;
    auto ctx = tls::ClientContext::Create(to);
    if (!ctx.ok()) return InvalidArgument("hub tls: " + ctx.status().message());
    co.tls = std::move(ctx).value();
  }
  s->client_ = std::make_unique<http::Client>(std::move(co));
  if (telemetry::Registry* r = options.metrics) {
    s->errors_metric_ = &r->AddCounter("continuum_gateway_hub_errors_total",
                                       "Topology fetches from the hub that failed, and documents refused", {})
                             .WithLabels({});
    s->origin_metric_ =
        &r->AddGauge("continuum_gateway_topology_source",
                     "1 for where the topology in use came from: file, hub or cache", {"source"});
    for (TopologyOrigin o : kOrigins)
      s->origin_metric_->WithLabels({std::string(TopologyOriginName(o))}).Set(0);
  }
  return s;
}

HubTopologySource::~HubTopologySource() {
  Stop();
  client_.reset();
}

void HubTopologySource::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (call_) call_->Cancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HubTopologySource::Start(ApplyTopology apply) {
  thread_ = std::thread([this, apply = std::move(apply)] { Run(apply); });
}

HubTopologySource::Stats HubTopologySource::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void HubTopologySource::SetOrigin(TopologyOrigin o) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.origin = o;
  }
  if (origin_metric_) {
    for (TopologyOrigin k : kOrigins)
      origin_metric_->WithLabels({std::string(TopologyOriginName(k))}).Set(k == o ? 1 : 0);
  }
}

void HubTopologySource::UseFile() { SetOrigin(TopologyOrigin::kFile); }

void HubTopologySource::CountError(const Status& st) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.errors++;
    stats_.last_error = st.message();
  }
  if (errors_metric_) errors_metric_->Increment();
  LogWarning("topology: " + st.message());
}

bool HubTopologySource::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

StatusOr<HubTopologySource::Fetched> HubTopologySource::Fetch(bool long_poll) {
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/api/v1/topology";
  req.max_response_bytes = options_.max_document_bytes;
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  const std::string etag = stats().etag;
  if (long_poll && !etag.empty()) {
    req.target += "?wait_s=" + std::to_string(options_.wait.count());
    req.headers.emplace_back("If-None-Match", etag);
    deadline += options_.wait;
  }
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  struct Result {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<StatusOr<http::ClientResponse>> answer;
  };
  auto result = std::make_shared<Result>();
  auto call =
      client_->Send(options_.url, std::move(req), deadline, [result](StatusOr<http::ClientResponse> r) {
        std::lock_guard<std::mutex> lock(result->mu);
        result->answer.emplace(std::move(r));
        result->cv.notify_all();
      });
  {
    std::lock_guard<std::mutex> lock(mu_);
    call_ = call;
    if (stopping_) call->Cancel();  // Stop came before the call was registered
  }
  std::unique_lock<std::mutex> lock(result->mu);
  result->cv.wait(lock, [&] { return result->answer.has_value(); });  // the callback runs exactly once
  {
    std::lock_guard<std::mutex> own(mu_);
    call_.reset();
  }
  if (!result->answer->ok())
    return Unavailable("hub " + options_.url + ": " + result->answer->status().message());
  http::ClientResponse& r = **result->answer;
  Fetched f;
  f.status = r.status;
  if (const std::string* e = r.Header("etag")) f.etag = *e;
  f.body = std::move(r.body);
  return f;
}

StatusOr<router::Topology> HubTopologySource::Accept(const Fetched& f, const ApplyTopology* apply) {
  {
    // Remembered even when the document is refused: the next poll waits for another one.
    std::lock_guard<std::mutex> lock(mu_);
    stats_.etag = f.etag;
  }
  auto t = router::ParseTopology(f.body);
  if (!t.ok())
    return InvalidArgument("the hub's topology is refused, the one in use kept: " + t.status().message());
  if (apply) {
    Status st = (*apply)(*t);
    if (!st.ok())
      return InvalidArgument("the hub's topology could not be applied, the one in use kept: " + st.message());
  }
  if (!options_.cache_file.empty()) {
    if (Status st = WriteFileAtomically(options_.cache_file, f.body); !st.ok())
      LogWarning("topology cache: " + st.message());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.applied++;
  }
  SetOrigin(TopologyOrigin::kHub);
  LogInfo("topology from the hub: " + std::to_string(t->nodes.size()) + " nodes" +
          (f.etag.empty() ? std::string() : " (etag " + Excerpt(f.etag) + ")"));
  return t;
}

StatusOr<router::Topology> HubTopologySource::Initial() {
  std::string hub_error;
  auto f = Fetch(false);
  if (f.ok() && f->status == 200) {
    auto t = Accept(*f, nullptr);
    if (t.ok()) return t;
    hub_error = t.status().message();
  } else {
    hub_error = f.ok() ? "hub " + options_.url + " answered HTTP " + std::to_string(f->status) + ": " +
                             Excerpt(f->body)
                       : f.status().message();
  }
  CountError(Unavailable(hub_error));
  if (options_.cache_file.empty()) return Unavailable(hub_error + "; and there is no cache file");
  auto text = ReadLimited(options_.cache_file, options_.max_document_bytes);
  if (!text.ok()) return Unavailable(hub_error + "; cache: " + text.status().message());
  auto t = router::ParseTopology(*text);
  if (!t.ok()) return Unavailable(hub_error + "; cache " + options_.cache_file + ": " + t.status().message());
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.applied++;
  }
  SetOrigin(TopologyOrigin::kCache);
  LogInfo("topology from the cache " + options_.cache_file + ": " + std::to_string(t->nodes.size()) +
          " nodes (the hub did not answer)");
  return t;
}

void HubTopologySource::Run(const ApplyTopology& apply) {
  auto backoff = options_.backoff_initial;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    auto f = Fetch(true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    if (f.ok() && f->status == 304) {
      backoff = options_.backoff_initial;
      continue;
    }
    Status error;
    if (f.ok() && f->status == 200) {
      auto t = Accept(*f, &apply);
      if (t.ok()) {
        backoff = options_.backoff_initial;
        // A hub that sends no ETag cannot be long-polled: the next fetch waits instead.
        if (f->etag.empty() && !Sleep(options_.wait)) return;
        continue;
      }
      error = t.status();  // refused: its ETag is remembered, and the next fetch still backs off
    } else if (f.ok()) {
      error = Unavailable("hub " + options_.url + " answered HTTP " + std::to_string(f->status) + ": " +
                          Excerpt(f->body));
    } else {
      error = f.status();
    }
    CountError(error);
    if (!Sleep(backoff)) return;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

}  // namespace continuum::gateway
