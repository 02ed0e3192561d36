// `cache`: a response cache keyed by tenant + model + version + a canonical encoding of the
// inputs, with TTLs, a byte bound with LRU eviction, and coalescing of identical requests in
// flight. v2 bodies are decoded with the v2 codec, so the same tensors sent as JSON or with the
// binary extension share one entry; task bodies are keyed by their bytes. An entry made for a
// model's latest version remembers the version that answered, and only answers while that
// version is still the one that answers (README: cache keys).
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "api/v2_codec.h"
#include "common/tensor.h"
#include "filters/internal/builtin.h"
#include "filters/internal/util.h"
#include "telemetry/metrics.h"

namespace continuum::filters {

namespace {

// The key's material is a sequence of numbers (LEB128: seven bits a byte, high bit "more") and
// length-prefixed strings: prefix-free, so different requests never give the same material, and
// short, so it is hashed in few SHA-256 blocks.
void AppendNumber(std::string* out, uint64_t n) {
  while (n >= 0x80) {
    out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}

void AppendField(std::string* out, std::string_view s) {
  AppendNumber(out, s.size());
  out->append(s);
}

// The inputs as the engine would see them: tensors sorted by name (their order in the body means
// nothing), each with dtype (its enum value: keys live only in this process), shape (rank, then
// each dim) and raw bytes; then the requested outputs and parameters.
// The request id is left out: it is echoed, and the cached body echoes the first request's.
// Appended to `out` (the key's prefix), which is reserved for it: the key is built in one string.
Status AppendCanonicalV2(const http::Request& req, const v2::CodecLimits& limits, std::string* out) {
  std::optional<size_t> json_length;
  if (const std::string* h = req.Header("inference-header-content-length")) {
    size_t v = 0;
    auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), v);
    if (ec != std::errc() || p != h->data() + h->size()) return InvalidArgument("bad header length");
    json_length = v;
  }
  ASSIGN_OR_RETURN(InferRequest r, v2::ParseInferRequest(req.body, json_length, limits));
  std::sort(r.inputs.begin(), r.inputs.end(),
            [](const Tensor& a, const Tensor& b) { return a.name < b.name; });
  std::sort(r.outputs.begin(), r.outputs.end(),
            [](const RequestedOutput& a, const RequestedOutput& b) { return a.name < b.name; });
  // "v2", two counts and the parameters' length (up to 10 bytes each), the flag.
  size_t size = out->size() + size_t{33} + r.parameters_json.size();
  // Per tensor: two length prefixes, the dtype, the rank and the dims (up to 10 bytes each).
  for (const Tensor& t : r.inputs) size += size_t{24} + t.name.size() + 10 * t.shape.size() + t.data.size();
  for (const RequestedOutput& o : r.outputs) size += 10 + o.name.size() + 1;
  out->reserve(size);
  out->append("v2");
  AppendNumber(out, r.inputs.size());  // counts, not separators: a name's length may be any byte
  for (const Tensor& t : r.inputs) {
    AppendField(out, t.name);
    AppendNumber(out, static_cast<uint64_t>(t.dtype));
    AppendNumber(out, t.shape.size());
    for (int64_t d : t.shape) AppendNumber(out, static_cast<uint64_t>(d));
    AppendField(out, t.data);
  }
  AppendNumber(out, r.outputs.size());
  for (const RequestedOutput& o : r.outputs) {
    AppendField(out, o.name);
    out->push_back(o.binary ? '1' : '0');
  }
  out->push_back(r.binary_data_output ? '1' : '0');
  AppendField(out, r.parameters_json);
  return Status::Ok();
}

// The "model_version" of a v2 infer answer (its JSON part), "" when it has none.
std::string AnsweredVersion(const http::Response& r) {
  std::string_view json = r.body;
  if (const std::string* h = ResponseHeader(r, "inference-header-content-length")) {
    size_t n = 0;
    auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), n);
    if (ec != std::errc() || p != h->data() + h->size() || n > json.size()) return {};
    json = json.substr(0, n);
  }
  // Read on every such answer, on demand: the fields before "model_version" are skipped and
  // nothing after it (the outputs) is parsed. One parser and one padded copy per thread for
  // answers up to kReusedBytes (their buffers stay allocated); a larger answer gets its own, so
  // no thread keeps buffers sized to the largest answer it saw.
  constexpr size_t kReusedBytes = 1u << 20;
  thread_local simdjson::ondemand::parser reused;
  thread_local std::string reused_copy;
  std::optional<simdjson::ondemand::parser> large;
  std::string large_copy;
  const bool small = json.size() <= kReusedBytes;
  simdjson::ondemand::parser& parser = small ? reused : large.emplace();
  std::string& copy = small ? reused_copy : large_copy;
  copy.assign(json);
  copy.append(simdjson::SIMDJSON_PADDING, '\0');
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  std::string_view v;
  if (parser.iterate(copy.data(), json.size(), copy.size()).get(doc) || doc.get_object().get(root) ||
      root["model_version"].get_string().get(v))
    return {};
  return std::string(v);
}

struct Entry {
  http::Response response;
  // For a request of the latest version: the version that answered ("" for other entries).
  std::string version;
  std::chrono::system_clock::time_point stored, expires;
  size_t bytes = 0;
  std::list<std::string>::iterator lru;
};

// A request waiting for the leader of its key.
struct Follower {
  std::atomic<bool> done{false};
  std::shared_ptr<RequestContext> ctx;
  http::Request req;
  http::Responder respond;
};

size_t ResponseBytes(const http::Response& r) {
  size_t n = r.body.size() + r.content_type.size() + 64;
  for (const auto& [k, v] : r.headers) n += k.size() + v.size() + 4;
  return n;
}

class CacheFilter final : public Filter {
 public:
  struct Settings {
    int64_t ttl_seconds = 300;
    int64_t max_ttl_seconds = 7 * 86400;
    int64_t max_bytes = 64 << 20;
    bool coalesce = true;
    int64_t coalesce_wait_ms = 30000;
    int64_t max_waiters = 1024;
  };

  CacheFilter(Settings s, FilterEnv& env)
      : s_(s),
        clock_(env.clock),
        timers_(env.timers),
        codec_limits_(env.codec_limits),
        resolve_version_(env.resolve_version) {
    if (env.metrics) {
      requests_ = &env.metrics->AddCounter("continuum_cache_requests_total",
                                           "Answers of the response cache by cache status", {"status"});
      coalesced_ = &env.metrics
                        ->AddCounter("continuum_cache_coalesced_total",
                                     "Requests answered by an identical request already in flight", {})
                        .WithLabels({});
      evictions_ =
          &env.metrics
               ->AddCounter("continuum_cache_evictions_total", "Entries evicted to stay under max_bytes", {})
               .WithLabels({});
      bytes_ = &env.metrics->AddGauge("continuum_cache_bytes", "Bytes held by the response cache", {})
                    .WithLabels({});
    }
  }

  void Handle(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
              const Next& next) override {
    auto skip = BoolHeader(req, {"cf-aig-skip-cache", "x-continuum-skip-cache"});
    if (!skip.ok()) return respond(ErrorFor(skip.status()));
    auto ttl =
        IntHeader(req, {"cf-aig-cache-ttl", "x-continuum-cache-ttl"}, 0, s_.max_ttl_seconds, "seconds");
    if (!ttl.ok()) return respond(ErrorFor(ttl.status()));
    FoundHeader custom = FirstHeader(req, {"cf-aig-cache-key", "x-continuum-cache-key"});
    if (custom.value && (custom.value->empty() || custom.value->size() > 1024)) {
      return respond(ErrorFor(
          InvalidArgument("header '" + std::string(custom.name) + "': expected 1..1024 characters")));
    }
    const bool cacheable_route =
        req.method == "POST" && (ctx->route == "v2_infer" || ctx->route == "task" || ctx->route == "openai");
    std::string key;
    if (cacheable_route && !skip->value_or(false)) {
      // Tenant first: entries of different tenants can never collide, whatever the inputs.
      std::string material;
      for (const std::string* s : {&ctx->tenant, &ctx->model, &ctx->version, &ctx->route})
        AppendField(&material, *s);
      // The node compresses its answer as Accept-Encoding asks (Vary: Accept-Encoding), so an
      // entry is only for requests that accept the same codings.
      const std::string* accept = req.Header("accept-encoding");
      AppendField(&material, accept ? *accept : std::string_view());
      bool keyed = true;
      if (custom.value) {
        material += "custom:";
        material += *custom.value;
      } else if (ctx->route == "v2_infer") {
        // Malformed: not cached, the node explains.
        keyed = AppendCanonicalV2(req, codec_limits_, &material).ok();
      } else {
        const std::string* ct = req.Header("content-type");
        material.reserve(material.size() + 8 + (ct ? ct->size() : 0) + req.body.size());
        material += "bytes:";
        if (ct) material += *ct;
        material += '\0';
        material += req.body;
      }
      if (keyed) key = Sha256Raw(material);
    }
    if (key.empty()) {
      ctx->cache_status = "BYPASS";
      Count("BYPASS");
      return next(ctx, std::move(req), [this, ctx, respond = std::move(respond)](http::Response r) {
        Learn(*ctx, r);
        Tag(r, "BYPASS");
        respond(std::move(r));
      });
    }
    const int64_t ttl_s = ttl->value_or(s_.ttl_seconds);
    // A v2 request for the latest version: its entry answers only while the version that made it
    // still answers. The node says which one does when it can (serve); else the version of the
    // model's most recent answer stands for it (gateway).
    const bool latest = ctx->route == "v2_infer" && ctx->version.empty();
    std::optional<std::string> current;
    if (latest && resolve_version_) current = resolve_version_(ctx->model);
    std::shared_ptr<Follower> follower;
    {
      std::lock_guard lock(mu_);
      const auto now = clock_->Now();
      if (latest && !current) {
        auto v = answered_.find(ctx->model);
        current = v == answered_.end() ? std::string() : v->second;
      }
      if (auto it = entries_.find(key); it != entries_.end()) {
        if (it->second.expires > now && (!latest || it->second.version == *current)) {
          lru_.splice(lru_.begin(), lru_, it->second.lru);
          http::Response r = it->second.response;
          SetHeader(r, "age",
                    std::to_string(
                        std::chrono::duration_cast<std::chrono::seconds>(now - it->second.stored).count()));
          ctx->cache_status = "HIT";
          Count("HIT");
          Tag(r, "HIT");
          return respond(std::move(r));
        }
        Erase(it);
      }
      if (s_.coalesce) {
        auto in = inflight_.find(key);
        if (in != inflight_.end() && static_cast<int64_t>(in->second.size()) < s_.max_waiters) {
          follower = std::make_shared<Follower>();
          follower->ctx = ctx;
          follower->req = std::move(req);
          follower->respond = std::move(respond);
          in->second.push_back(follower);
        } else if (in == inflight_.end()) {
          inflight_[key];
        }
      }
    }
    if (follower) {
      // Bounded wait: after coalesce_wait_ms the follower runs on its own.
      timers_->RunAfter(std::chrono::milliseconds(s_.coalesce_wait_ms), [this, follower, next] {
        if (follower->done.exchange(true)) return;
        RunAlone(follower->ctx, std::move(follower->req), std::move(follower->respond), next, std::string(),
                 0);
      });
      return;
    }
    RunAlone(ctx, std::move(req), std::move(respond), next, key, ttl_s);
  }

 private:
  static void Tag(http::Response& r, const char* status) {
    SetHeader(r, "cache-status", status);
    SetHeader(r, "cf-aig-cache-status", status);
  }

  void Count(const char* status) {
    if (requests_) requests_->WithLabels({status}).Increment();
  }

  // Runs the request as a MISS; with a key, it leads: stores a 2xx answer and hands the answer to
  // the followers that queued behind it.
  void RunAlone(std::shared_ptr<RequestContext> ctx, http::Request&& req, http::Responder respond,
                const Next& next, std::string key, int64_t ttl_s) {
    ctx->cache_status = "MISS";
    Count("MISS");
    // A leader's answer also serves the followers coalesced behind it: its own client leaving
    // must not cancel it.
    if (!key.empty()) req.cancel = CancelToken();
    next(ctx, std::move(req), [this, ctx, key, ttl_s, respond = std::move(respond)](http::Response r) {
      std::vector<std::shared_ptr<Follower>> followers;
      const std::string version = Learn(*ctx, r);
      if (!key.empty()) {
        const bool ok = r.status >= 200 && r.status < 300;
        std::lock_guard lock(mu_);
        if (auto in = inflight_.find(key); in != inflight_.end()) {
          followers = std::move(in->second);
          inflight_.erase(in);
        }
        if (ok && ttl_s > 0) Store(key, r, ttl_s, version);
      }
      for (auto& f : followers) {
        if (f->done.exchange(true)) continue;
        http::Response copy = r;
        const bool ok = r.status >= 200 && r.status < 300;
        f->ctx->cache_status = ok ? "HIT" : "MISS";
        Count(ok ? "HIT" : "MISS");
        if (coalesced_) coalesced_->Increment();
        Tag(copy, ok ? "HIT" : "MISS");
        f->respond(std::move(copy));
      }
      Tag(r, "MISS");
      respond(std::move(r));
    });
  }

  // For a 2xx answer to a v2 request of the latest version: the version that answered, which
  // from now on is the model's current one where the node gives no resolver. "" otherwise.
  std::string Learn(const RequestContext& ctx, const http::Response& r) {
    if (ctx.route != "v2_infer" || !ctx.version.empty() || r.status < 200 || r.status >= 300) return {};
    std::string version = AnsweredVersion(r);
    if (!resolve_version_ && !version.empty()) {
      std::lock_guard lock(mu_);
      // Only models that answered are here, so the map follows the models that exist.
      answered_[ctx.model] = version;
    }
    return version;
  }

  void Store(const std::string& key, const http::Response& r, int64_t ttl_s, const std::string& version) {
    const size_t bytes = ResponseBytes(r) + key.size();
    if (bytes > static_cast<size_t>(s_.max_bytes)) return;
    if (auto it = entries_.find(key); it != entries_.end()) Erase(it);
    while (used_ + bytes > static_cast<size_t>(s_.max_bytes) && !lru_.empty()) {
      Erase(entries_.find(lru_.back()));
      if (evictions_) evictions_->Increment();
    }
    lru_.push_front(key);
    const auto now = clock_->Now();
    Entry& e = entries_[key];
    e.response = r;
    e.version = version;
    e.stored = now;
    e.expires = now + std::chrono::seconds(ttl_s);
    e.bytes = bytes;
    e.lru = lru_.begin();
    used_ += bytes;
    if (bytes_) bytes_->Set(static_cast<double>(used_));
  }

  void Erase(std::unordered_map<std::string, Entry>::iterator it) {
    used_ -= it->second.bytes;
    lru_.erase(it->second.lru);
    entries_.erase(it);
    if (bytes_) bytes_->Set(static_cast<double>(used_));
  }

  Settings s_;
  const Clock* clock_;
  Timers* timers_;
  const v2::CodecLimits codec_limits_;
  const VersionResolver resolve_version_;
  telemetry::Family<telemetry::Counter>* requests_ = nullptr;
  telemetry::Counter* coalesced_ = nullptr;
  telemetry::Counter* evictions_ = nullptr;
  telemetry::Gauge* bytes_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recently used first
  size_t used_ = 0;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Follower>>> inflight_;
  // Without a resolver: model -> the version of its most recent answer to a request of the latest.
  std::unordered_map<std::string, std::string> answered_;
};

}  // namespace

StatusOr<std::unique_ptr<Filter>> MakeCacheFilter(std::string_view settings, FilterEnv& env) {
  config::Reader rd("settings.");
  ASSIGN_OR_RETURN(config::Object o,
                   rd.ParseObject(settings, {"ttl_seconds", "max_ttl_seconds", "max_bytes", "coalesce",
                                             "coalesce_wait_ms", "max_waiters"}));
  CacheFilter::Settings s;
  simdjson::dom::element e;
  if (!o["max_ttl_seconds"].get(e)) {
    ASSIGN_OR_RETURN(s.max_ttl_seconds, rd.Int(e, "max_ttl_seconds", 1, 365 * 86400));
  }
  if (!o["ttl_seconds"].get(e)) {
    ASSIGN_OR_RETURN(s.ttl_seconds, rd.Int(e, "ttl_seconds", 0, s.max_ttl_seconds));
  }
  if (!o["max_bytes"].get(e)) {
    ASSIGN_OR_RETURN(s.max_bytes, rd.Int(e, "max_bytes", 1, int64_t{1} << 40));
  }
  if (!o["coalesce"].get(e)) {
    ASSIGN_OR_RETURN(s.coalesce, rd.Bool(e, "coalesce"));
  }
  if (!o["coalesce_wait_ms"].get(e)) {
    ASSIGN_OR_RETURN(s.coalesce_wait_ms, rd.Int(e, "coalesce_wait_ms", 1, 3'600'000));
  }
  if (!o["max_waiters"].get(e)) {
    ASSIGN_OR_RETURN(s.max_waiters, rd.Int(e, "max_waiters", 1, 1'000'000));
  }
  return std::unique_ptr<Filter>(new CacheFilter(s, env));
}

}  // namespace continuum::filters
