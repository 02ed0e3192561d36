#include "repository/repository.h"

#include <algorithm>
#include <charconv>

#include "common/log.h"

namespace continuum {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

StatusOr<ModelControlMode> ParseModelControlMode(std::string_view s) {
  if (s == "none") return ModelControlMode::kNone;
  if (s == "poll") return ModelControlMode::kPoll;
  if (s == "explicit") return ModelControlMode::kExplicit;
  return InvalidArgument("--model-control-mode must be none, poll or explicit, not '" + std::string(s) + "'");
}

namespace {

// A zero-filled request of batch 1 (other dynamic dimensions 1), to warm a session up.
std::vector<Tensor> WarmupInputs(const runtime::ModelSignature& sig) {
  std::vector<Tensor> inputs;
  for (const auto& spec : sig.inputs) {
    Tensor t{spec.name, spec.dtype, spec.shape, {}};
    for (auto& d : t.shape) d = d < 0 ? 1 : d;
    int64_t n = t.NumElements();
    if (spec.dtype == DataType::kBytes) {
      for (int64_t i = 0; i < n; ++i) AppendBytesElement(t.data, "");
    } else {
      t.data.assign(static_cast<size_t>(n) * ElementSize(spec.dtype), '\0');
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

std::optional<int64_t> ParseVersionDir(const std::string& s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  if (s[0] == '0') return std::nullopt;
  return v;
}

bool ValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
ModelVersion::ModelVersion(std::string name, int64_t version, ModelConfig config,
                           std::vector<std::unique_ptr<runtime::Session>> sessions,
                           InferenceMetricFamilies* families, ComputeEmulation emulation)
    : name_(std::move(name)),
      version_(version),
      config_(std::move(config)),
      signature_(sessions.front()->signature()),
      execution_provider_(sessions.front()->execution_provider()),
      fallback_reason_(sessions.front()->fallback_reason()),
      stats_(std::make_unique<ModelStats>(families, name_, version_)) {
  SchedulerOptions o;
  o.max_batch_size = config_.max_batch_size.value_or(0);
  o.dynamic_batching = config_.dynamic_batching;
  o.max_queue_size = config_.limits.max_queue_size;
  o.max_queue_bytes = config_.limits.max_queue_bytes;
  o.queue_timeout_microseconds = config_.limits.queue_timeout_microseconds;
  o.emulation = emulation;
  scheduler_ = std::make_unique<Scheduler>(std::move(sessions), std::move(o), stats_.get());
}

ModelVersion::~ModelVersion() { scheduler_->Shutdown(); }

Status ModelVersion::Infer(InferRequest request, InferCallback callback) {
  Status st = ValidateRequest(signature_, config_.max_batch_size.value_or(0),
                              config_.limits.max_tensor_elements, &request);
  if (!st.ok()) {
    stats_->RecordFailure(FailureReason::kRejected, 0);
    return st.WithContext("model '" + name_ + "' version " + std::to_string(version_));
  }
  request.model_name = name_;
  request.model_version = version_;
  return scheduler_->Enqueue(std::move(request), std::move(callback));
}

void ModelVersion::Drain() { scheduler_->Shutdown(); }

// ---------------------------------------------------------------------------------------------
ModelRepository::ModelRepository(RepositoryOptions options, runtime::Engine* engine,
                                 InferenceMetricFamilies* families)
    : options_(std::move(options)), engine_(engine), families_(families) {}

ModelRepository::~ModelRepository() { Shutdown(); }

std::vector<std::string> ModelRepository::ModelDirs() const {
  std::vector<std::string> names;
  // Explicit increments with an error code: the range-for's operator++ throws when the folder
  // changes under it, which on the poll thread would end the process.
  std::error_code ec;
  for (fs::directory_iterator it(options_.root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    std::string n = it->path().filename().string();
    if (it->is_directory(entry_ec) && ValidModelName(n)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

ModelRepository::Fingerprint ModelRepository::Scan(const fs::path& dir) const {
  Fingerprint fp;
  std::error_code ec;
  fs::path cfg = dir / "config.json";
  if (fs::exists(cfg, ec)) fp.config = {fs::last_write_time(cfg, ec), fs::file_size(cfg, ec)};
  ec.clear();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code entry_ec;
    auto v = ParseVersionDir(it->path().filename().string());
    if (!v || !it->is_directory(entry_ec)) continue;
    fs::path m = it->path() / "model.onnx";
    if (!fs::exists(m, entry_ec)) continue;
    fp.versions[*v] = {fs::last_write_time(m, entry_ec), fs::file_size(m, entry_ec)};
  }
  return fp;
}

StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::LoadVersion(const std::string& name, int64_t version,
                                                                     const ModelConfig& base,
                                                                     const fs::path& dir) {
  const auto start = Clock::now();
  fs::path path = dir / std::to_string(version) / "model.onnx";
  runtime::SessionOptions so;
  so.execution_providers = base.execution_providers;
  std::vector<std::unique_ptr<runtime::Session>> sessions;
  ModelConfig config = base;
  for (int64_t i = 0; i < base.instance_count; ++i) {
    ASSIGN_OR_RETURN(auto s, engine_->Load(path, so));
    if (i == 0) RETURN_IF_ERROR(AutoComplete(s->signature(), &config));
    sessions.push_back(std::move(s));
  }
  if (!sessions.front()->fallback_reason().empty()) {
    LogWarning("model '" + name + "' version " + std::to_string(version) +
               " runs on CPU: " + sessions.front()->fallback_reason());
  }
  if (config.warmup) {
    auto inputs = WarmupInputs(sessions.front()->signature());
    std::vector<const Tensor*> ptrs;
    for (const auto& t : inputs) ptrs.push_back(&t);
    for (auto& s : sessions) {
      auto r = s->Run(ptrs, {});
      if (!r.ok()) {
        LogWarning("model '" + name + "' version " + std::to_string(version) +
                   ": warm-up with zeros failed (the model stays loaded): " + r.status().message());
        break;
      }
    }
  }
  auto mv = std::make_shared<ModelVersion>(name, version, std::move(config), std::move(sessions), families_,
                                           options_.emulation);
  std::error_code canonical_ec;
  fs::path source = fs::canonical(dir, canonical_ec);
  mv->set_source_dir(canonical_ec ? dir.string() : source.string());
  mv->stats().RecordLoad(Clock::now() - start);
  LogInfo(
      "loaded model '" + name + "' version " + std::to_string(version) + " on " + mv->execution_provider() +
      " in " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()) +
      " ms");
  return mv;
}

Status ModelRepository::LoadLocked(const std::string& name) {
  if (!ValidModelName(name)) return InvalidArgument("invalid model name '" + name + "'");
  std::error_code ec;
  if (!fs::is_directory(options_.root / name, ec)) {
    return NotFound("model '" + name + "' is not in the repository " + options_.root.string());
  }
  // A model folder that is a symlink (`continuum install` switches one to a new package) is
  // resolved once, so one load reads one package's files even when the link changes meanwhile.
  fs::path dir = fs::canonical(options_.root / name, ec);
  if (ec) dir = options_.root / name;
  Fingerprint fp = Scan(dir);
  ModelEntry old;
  {
    std::shared_lock lock(map_mu_);
    auto it = models_.find(name);
    if (it != models_.end()) old = it->second;
  }
  auto fail_model = [&](const Status& st) {
    std::unique_lock lock(map_mu_);
    ModelEntry& e = models_[name];
    e.failed = {{0, st.message()}};
    e.fingerprint = fp;
    LogError(st.message());  // the message names the model already
    return st;
  };
  auto cfg = LoadModelConfig(dir.string(), name);
  if (!cfg.ok()) {
    // A broken config keeps the versions that serve now (a bad edit must not take a model down).
    return fail_model(cfg.status());
  }
  cfg->default_batch_size_when_auto = options_.default_max_batch_size;
  if (cfg->limits.max_tensor_elements > options_.default_max_tensor_elements) {
    cfg->limits.max_tensor_elements = options_.default_max_tensor_elements;
  }
  cfg->limits.max_queue_bytes = std::min(cfg->limits.max_queue_bytes, options_.default_max_queue_bytes);

  // Versions the policy wants, from what is on disk.
  std::vector<int64_t> wanted;
  for (const auto& [v, _] : fp.versions) wanted.push_back(v);
  const VersionPolicy& policy = cfg->version_policy;
  if (policy.kind == VersionPolicy::Kind::kLatest) {
    std::sort(wanted.rbegin(), wanted.rend());
    if (static_cast<int64_t>(wanted.size()) > policy.num_versions)
      wanted.resize(static_cast<size_t>(policy.num_versions));
  } else if (policy.kind == VersionPolicy::Kind::kSpecific) {
    std::vector<int64_t> w;
    for (int64_t v : policy.versions) {
      if (fp.versions.count(v)) w.push_back(v);
    }
    wanted = w;
  }
  const bool config_same = old.fingerprint.config == fp.config && !old.versions.empty();
  ModelEntry next;
  next.fingerprint = fp;
  if (wanted.empty()) {
    // Nothing on disk that the policy selects: the versions that served go away (as in Triton);
    // the index says why.
    next.failed[0] =
        "model '" + name + "' has no version folder with a model.onnx that its version policy selects";
    LogError(next.failed[0]);
  }
  for (int64_t v : wanted) {
    auto it = old.versions.find(v);
    auto old_fp = old.fingerprint.versions.find(v);
    if (config_same && it != old.versions.end() && old_fp != old.fingerprint.versions.end() &&
        old_fp->second == fp.versions[v]) {
      next.versions[v] = it->second;  // unchanged: keep serving it
      continue;
    }
    auto mv = LoadVersion(name, v, *cfg, dir);
    if (mv.ok()) {
      next.versions[v] = std::move(mv).value();
    } else {
      next.failed[v] = mv.status().message();
      LogError("model '" + name + "' version " + std::to_string(v) + ": " + mv.status().message());
      if (it != old.versions.end()) next.versions[v] = it->second;  // keep the old one serving
    }
  }
  std::vector<std::shared_ptr<ModelVersion>> retired;
  {
    std::unique_lock lock(map_mu_);
    for (auto& [v, mv] : old.versions) {
      auto n = next.versions.find(v);
      if (n == next.versions.end() || n->second != mv) retired.push_back(mv);
    }
    models_[name] = std::move(next);
  }
  old.versions.clear();
  // Retired versions finish what they queued before they go.
  for (auto& mv : retired) {
    mv->Drain();
    LogInfo("unloaded model '" + name + "' version " + std::to_string(mv->version()));
  }
  std::shared_lock lock(map_mu_);
  const ModelEntry& e = models_.at(name);  // present: set above, and only this thread mutates
  if (e.versions.empty()) {
    if (e.failed.empty()) return Internal("model '" + name + "' loaded no version");
    if (e.failed.count(0)) return NotFound(e.failed.at(0));
    return InvalidArgument("model '" + name + "' failed to load: " + e.failed.begin()->second);
  }
  return Status::Ok();
}

void ModelRepository::UnloadLocked(const std::string& name) {
  ModelEntry old;
  {
    std::unique_lock lock(map_mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return;
    old = std::move(it->second);
    models_.erase(it);
  }
  for (auto& [v, mv] : old.versions) {
    mv->Drain();
    LogInfo("unloaded model '" + name + "' version " + std::to_string(v));
  }
}

Status ModelRepository::Start() {
  std::error_code ec;
  if (!fs::is_directory(options_.root, ec)) {
    return NotFound("model repository " + options_.root.string() + " is not a directory");
  }
  std::vector<std::string> names;
  if (options_.mode == ModelControlMode::kExplicit) {
    for (const auto& m : options_.startup_models) {
      if (m == "*") {
        names = ModelDirs();
        break;
      }
      names.push_back(m);
    }
  } else {
    names = ModelDirs();
  }
  {
    std::lock_guard lock(load_mu_);
    for (const auto& n : names) (void)LoadLocked(n);
  }
  {
    std::unique_lock lock(map_mu_);
    expected_ = names;
    started_ = true;
  }
  if (options_.mode == ModelControlMode::kPoll) {
    poll_thread_ = std::thread([this] { PollLoop(); });
  }
  return Status::Ok();
}

Status ModelRepository::Load(const std::string& name) {
  if (options_.mode != ModelControlMode::kExplicit) {
    return FailedPrecondition(
        "explicit model load / unload is not allowed when --model-control-mode is not explicit");
  }
  std::lock_guard lock(load_mu_);
  return LoadLocked(name);
}

Status ModelRepository::Unload(const std::string& name) {
  if (options_.mode != ModelControlMode::kExplicit) {
    return FailedPrecondition(
        "explicit model load / unload is not allowed when --model-control-mode is not explicit");
  }
  std::lock_guard lock(load_mu_);
  {
    std::shared_lock m(map_mu_);
    if (!models_.count(name)) return NotFound("model '" + name + "' is not loaded");
  }
  UnloadLocked(name);
  std::unique_lock m(map_mu_);
  std::erase(expected_, name);
  return Status::Ok();
}

Status ModelRepository::Poll() {
  std::lock_guard lock(load_mu_);
  std::vector<std::string> on_disk = ModelDirs();
  std::vector<std::string> loaded;
  {
    std::shared_lock m(map_mu_);
    for (const auto& [n, _] : models_) loaded.push_back(n);
  }
  for (const auto& n : loaded) {
    if (!std::binary_search(on_disk.begin(), on_disk.end(), n)) UnloadLocked(n);
  }
  for (const auto& n : on_disk) {
    Fingerprint fp = Scan(options_.root / n);
    bool changed = true;
    {
      std::shared_lock m(map_mu_);
      auto it = models_.find(n);
      if (it != models_.end()) {
        changed =
            !(it->second.fingerprint.config == fp.config && it->second.fingerprint.versions == fp.versions);
      }
    }
    if (changed) (void)LoadLocked(n);
  }
  std::unique_lock m(map_mu_);
  expected_ = on_disk;
  return Status::Ok();
}

void ModelRepository::PollLoop() {
  std::unique_lock lock(poll_mu_);
  while (!stopping_) {
    poll_cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    (void)Poll();
    lock.lock();
  }
}

StatusOr<std::shared_ptr<ModelVersion>> ModelRepository::Get(const std::string& name, int64_t version) const {
  std::shared_lock lock(map_mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return NotFound("unknown model '" + name + "'");
  const auto& versions = it->second.versions;
  if (versions.empty()) {
    std::string why = it->second.failed.empty() ? "" : ": " + it->second.failed.begin()->second;
    return NotFound("model '" + name + "' has no ready version" + why);
  }
  if (version < 0) return versions.rbegin()->second;
  auto v = versions.find(version);
  if (v == versions.end()) {
    return NotFound("model '" + name + "' has no ready version " + std::to_string(version));
  }
  return v->second;
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::ReadyVersions(const std::string& name) const {
  std::vector<std::shared_ptr<ModelVersion>> out;
  std::shared_lock lock(map_mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return out;
  for (const auto& [v, mv] : it->second.versions) out.push_back(mv);
  return out;
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::AllReady() const {
  std::vector<std::shared_ptr<ModelVersion>> out;
  std::shared_lock lock(map_mu_);
  for (const auto& [n, e] : models_) {
    for (const auto& [v, mv] : e.versions) out.push_back(mv);
  }
  return out;
}

std::vector<ModelRepository::IndexEntry> ModelRepository::Index(bool ready_only) const {
  std::vector<IndexEntry> out;
  std::shared_lock lock(map_mu_);
  std::vector<std::string> names;
  for (const auto& [n, _] : models_) names.push_back(n);
  if (!ready_only) {
    for (const auto& n : ModelDirs()) {
      if (!models_.count(n)) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
  }
  for (const auto& n : names) {
    auto it = models_.find(n);
    if (it == models_.end()) {
      out.push_back({n, "", "UNAVAILABLE", "unloaded"});
      continue;
    }
    for (const auto& [v, mv] : it->second.versions) out.push_back({n, std::to_string(v), "READY", ""});
    if (ready_only) continue;
    for (const auto& [v, why] : it->second.failed) {
      if (it->second.versions.count(v)) continue;
      out.push_back({n, v > 0 ? std::to_string(v) : "", "UNAVAILABLE", why});
    }
  }
  return out;
}

bool ModelRepository::Ready() const {
  std::shared_lock lock(map_mu_);
  if (!started_) return false;
  for (const auto& n : expected_) {
    auto it = models_.find(n);
    if (it == models_.end() || it->second.versions.empty()) return false;
  }
  return true;
}

void ModelRepository::Shutdown() {
  {
    std::lock_guard lock(poll_mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  std::lock_guard lock(load_mu_);
  std::vector<std::string> names;
  {
    std::shared_lock m(map_mu_);
    for (const auto& [n, _] : models_) names.push_back(n);
  }
  for (const auto& n : names) UnloadLocked(n);
}

}  // namespace continuum
