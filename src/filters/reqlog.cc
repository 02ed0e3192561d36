// `reqlog`: one JSON line per request (id, tenant, model, version, tier, node, status, latency,
// cache status, units), payloads only when asked, written by a background thread (the I/O
// thread never waits on the disk), with size-based rotation and a number of files kept.
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <thread>

#include "common/json_writer.h"
#include "common/log.h"
#include "filters/internal/builtin.h"
#include "filters/internal/util.h"

namespace continuum::filters {

namespace {

class LogWriter {
 public:
  LogWriter(std::string path, int64_t max_bytes, int64_t keep)
      : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep) {}
  ~LogWriter() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (file_) std::fclose(file_);
  }

  Status Open() {
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_) return Unavailable("cannot open the request log " + path_);
    std::error_code ec;
    size_ = static_cast<int64_t>(std::filesystem::file_size(path_, ec));
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  // Drops lines when the queue is far behind rather than growing without bound.
  void Append(std::string line) {
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= 100000) return;
      queue_.push_back(std::move(line));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      std::deque<std::string> batch;
      batch.swap(queue_);
      lock.unlock();
      for (const std::string& line : batch) Write(line);
      if (file_) std::fflush(file_);
      lock.lock();
    }
  }

  void Write(const std::string& line) {
    if (size_ > 0 && size_ + static_cast<int64_t>(line.size()) > max_bytes_) Rotate();
    if (!file_) return;
    std::fwrite(line.data(), 1, line.size(), file_);
    size_ += static_cast<int64_t>(line.size());
  }

  // path -> path.1 -> path.2 ... ; files beyond `keep` rotated ones are deleted.
  void Rotate() {
    if (file_) std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::remove(path_ + "." + std::to_string(keep_), ec);
    for (int64_t i = keep_ - 1; i >= 1; --i) {
      std::filesystem::rename(path_ + "." + std::to_string(i), path_ + "." + std::to_string(i + 1), ec);
    }
    if (keep_ > 0) {
      std::filesystem::rename(path_, path_ + ".1", ec);
    } else {
      std::filesystem::remove(path_, ec);
    }
    file_ = std::fopen(path_.c_str(), "w");
    if (!file_) LogError("cannot reopen the request log " + path_);
    size_ = 0;
  }

  std::string path_;
  int64_t max_bytes_, keep_;
  std::FILE* file_ = nullptr;
  int64_t size_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  std::thread thread_;
};

class RequestLogFilter final : public Filter {
 public:
  RequestLogFilter(std::unique_ptr<LogWriter> writer, bool payloads, int64_t max_payload, const Clock* clock)
      : writer_(std::move(writer)), payloads_(payloads), max_payload_(max_payload), clock_(clock) {}

  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    std::string method = req.method, path = req.path, payload;
    if (payloads_) payload = req.body.substr(0, static_cast<size_t>(max_payload_));
    next(ctx, std::move(req),
         [this, ctx, method = std::move(method), path = std::move(path), payload = std::move(payload),
          respond = std::move(respond)](http::Response r) {
           writer_->Append(Line(*ctx, method, path, payload, r));
           respond(std::move(r));
         });
  }

 private:
  std::string Line(const RequestContext& ctx, const std::string& method, const std::string& path,
                   const std::string& payload, const http::Response& r) const {
    const auto now = clock_->Now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[40];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    char full[48];
    std::snprintf(full, sizeof full, "%s.%03dZ", ts, static_cast<int>(ms));
    const RequestContext::Charge c = ctx.charge();
    const std::string* tier = ResponseHeader(r, "x-continuum-tier");
    const std::string* node = ResponseHeader(r, "x-continuum-node");
    std::string line;
    JsonWriter w(&line);
    w.BeginObject().Key("ts").String(full).Key("id").String(ctx.request_id);
    w.Key("tenant").String(ctx.tenant).Key("key").String(ctx.key_id);
    w.Key("method").String(method).Key("path").String(path).Key("route").String(ctx.route);
    w.Key("model").String(ctx.model).Key("version").String(ctx.version);
    w.Key("tier").String(tier ? *tier : c.tier).Key("node").String(node ? *node : c.node);
    w.Key("status").Int(r.status);
    w.Key("latency_ms")
        .Double(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ctx.start).count());
    w.Key("compute_ms")
        .Double(c.compute_ms)
        .Key("cache")
        .String(ctx.cache_status)
        .Key("units")
        .Double(c.units);
    if (payloads_) {
      w.Key("request_body").String(payload);
      w.Key("response_body").String(std::string_view(r.body).substr(0, static_cast<size_t>(max_payload_)));
    }
    w.EndObject();
    line += '\n';
    return line;
  }

  std::unique_ptr<LogWriter> writer_;
  bool payloads_;
  int64_t max_payload_;
  const Clock* clock_;
};

}  // namespace

StatusOr<std::unique_ptr<Filter>> MakeRequestLogFilter(std::string_view settings, FilterEnv& env) {
  config::Reader rd("settings.");
  ASSIGN_OR_RETURN(config::Object o,
                   rd.ParseObject(settings, {"path", "max_bytes", "keep", "payloads", "max_payload_bytes"}));
  simdjson::dom::element e;
  if (o["path"].get(e)) return rd.Err("path", "missing (the JSON-lines file to write)");
  auto path_or = rd.String(e, "path", true);
  if (!path_or.ok()) return path_or.status();
  std::string path = *path_or;
  if (std::filesystem::path(path).is_relative())
    path = (std::filesystem::path(env.config_dir) / path).string();
  int64_t max_bytes = 64 << 20, keep = 5, max_payload = 4096;
  bool payloads = false;
  if (!o["max_bytes"].get(e)) {
    ASSIGN_OR_RETURN(max_bytes, rd.Int(e, "max_bytes", 1024, int64_t{1} << 40));
  }
  if (!o["keep"].get(e)) {
    ASSIGN_OR_RETURN(keep, rd.Int(e, "keep", 0, 1000));
  }
  if (!o["payloads"].get(e)) {
    ASSIGN_OR_RETURN(payloads, rd.Bool(e, "payloads"));
  }
  if (!o["max_payload_bytes"].get(e)) {
    ASSIGN_OR_RETURN(max_payload, rd.Int(e, "max_payload_bytes", 0, 64 << 20));
  }
  auto writer = std::make_unique<LogWriter>(path, max_bytes, keep);
  RETURN_IF_ERROR(writer->Open());
  return std::unique_ptr<Filter>(new RequestLogFilter(std::move(writer), payloads, max_payload, env.clock));
}

}  // namespace continuum::filters
