// The model repository: Triton's layout, `<root>/<model>/<version>/model.onnx` plus an optional
// `<root>/<model>/config.json`. It loads versions according to each model's version policy,
// reports readiness per version, and (in poll mode) follows changes on disk without a restart.
//
// Threading: Get/Index are cheap and may be called from any thread (a shared lock on the map).
// Load/Unload/Poll are serialized by a separate mutex, build new versions outside the map lock,
// and swap them in; an unloaded version finishes its queued requests before it goes away.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/inference.h"
#include "common/status.h"
#include "repository/model_config.h"
#include "runtime/runtime.h"
#include "scheduler/scheduler.h"
#include "scheduler/stats.h"

namespace continuum {

enum class ModelControlMode { kNone, kPoll, kExplicit };
StatusOr<ModelControlMode> ParseModelControlMode(std::string_view s);

struct RepositoryOptions {
  std::filesystem::path root;
  ModelControlMode mode = ModelControlMode::kNone;
  std::chrono::milliseconds poll_interval{5000};
  std::vector<std::string> startup_models;  // explicit mode: loaded at start ("*": all)
  int64_t default_max_batch_size = 8;       // for graphs that can batch but have no config
  int64_t default_max_tensor_elements = 1 << 26;
  int64_t default_max_queue_bytes = 256 << 20;  // caps every version's limits.max_queue_bytes
  ComputeEmulation emulation;                   // emulated node speed for every model (off by default)
};

// One loaded, ready version of a model. Shared by the repository and in-flight lookups.
class ModelVersion {
 public:
  ModelVersion(std::string name, int64_t version, ModelConfig config,
               std::vector<std::unique_ptr<runtime::Session>> sessions, InferenceMetricFamilies* families,
               ComputeEmulation emulation = {});
  ~ModelVersion();

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const ModelConfig& config() const { return config_; }
  const runtime::ModelSignature& signature() const { return signature_; }
  const std::string& execution_provider() const { return execution_provider_; }
  const std::string& fallback_reason() const { return fallback_reason_; }
  ModelStats& stats() { return *stats_; }
  size_t queued() const { return scheduler_->queued(); }
  // The model folder this version was loaded from, symlinks resolved (for a model installed from a
  // package: REPO/.packages/<model>@sha256-<hex>-<variant>), so that what is served can be told
  // from what lies on disk when a newer folder failed to load. Set once, before the version is shared.
  const std::string& source_dir() const { return source_dir_; }
  void set_source_dir(std::string dir) { source_dir_ = std::move(dir); }

  // Validates the request against the model and queues it. On error the callback is not called
  // (kInvalidArgument: bad request; kUnavailable: queue full or unloading).
  Status Infer(InferRequest request, InferCallback callback);
  // Stops intake and waits for queued requests to be answered.
  void Drain();

 private:
  std::string name_;
  int64_t version_;
  ModelConfig config_;
  runtime::ModelSignature signature_;
  std::string execution_provider_;
  std::string fallback_reason_;
  std::string source_dir_;
  std::unique_ptr<ModelStats> stats_;
  std::unique_ptr<Scheduler> scheduler_;
};

class ModelRepository {
 public:
  struct IndexEntry {
    std::string name;
    std::string version;  // empty when the model has no version loaded
    std::string state;    // READY, UNAVAILABLE, LOADING, UNLOADING
    std::string reason;
  };

  ModelRepository(RepositoryOptions options, runtime::Engine* engine, InferenceMetricFamilies* families);
  ~ModelRepository();

  // Initial load (none/poll: every model; explicit: startup_models), then starts polling in poll
  // mode. A model that fails to load is reported in the index, not fatal.
  Status Start();
  // Explicit control: (re)loads a model from disk, or unloads it. kFailedPrecondition in the
  // other modes (as in Triton: the repository owns the set of models there).
  Status Load(const std::string& name);
  Status Unload(const std::string& name);
  // One scan of the repository, applying additions, changes and removals (poll mode does this
  // every poll_interval).
  Status Poll();

  // A ready version (-1: the highest ready version). kNotFound names what is missing.
  StatusOr<std::shared_ptr<ModelVersion>> Get(const std::string& name, int64_t version = -1) const;
  std::vector<std::shared_ptr<ModelVersion>> ReadyVersions(const std::string& name) const;
  std::vector<std::shared_ptr<ModelVersion>> AllReady() const;
  std::vector<IndexEntry> Index(bool ready_only) const;
  // True when every model that was meant to load at start has at least one ready version.
  bool Ready() const;
  ModelControlMode mode() const { return options_.mode; }
  const std::filesystem::path& root() const { return options_.root; }

  // Stops polling and drains every model.
  void Shutdown();

 private:
  struct VersionFiles {
    std::filesystem::file_time_type mtime;
    uintmax_t size = 0;
    bool operator==(const VersionFiles&) const = default;
  };
  struct Fingerprint {
    VersionFiles config;
    std::map<int64_t, VersionFiles> versions;  // present on disk, before the policy
  };
  struct ModelEntry {
    std::map<int64_t, std::shared_ptr<ModelVersion>> versions;
    std::map<int64_t, std::string> failed;  // version (0: the model itself) -> reason
    Fingerprint fingerprint;
  };

  // Loads or reloads a model to match disk; keeps unchanged versions when the config is the same.
  Status LoadLocked(const std::string& name);
  void UnloadLocked(const std::string& name);
  Fingerprint Scan(const std::filesystem::path& dir) const;
  std::vector<std::string> ModelDirs() const;
  StatusOr<std::shared_ptr<ModelVersion>> LoadVersion(const std::string& name, int64_t version,
                                                      const ModelConfig& config,
                                                      const std::filesystem::path& dir);
  void PollLoop();

  const RepositoryOptions options_;
  runtime::Engine* engine_;
  InferenceMetricFamilies* families_;

  std::mutex load_mu_;  // serializes Load/Unload/Poll
  mutable std::shared_mutex map_mu_;
  std::map<std::string, ModelEntry> models_;  // guarded by map_mu_
  bool started_ = false;                      // guarded by map_mu_
  std::vector<std::string> expected_;         // guarded by map_mu_: models that should be ready

  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stopping_ = false;  // guarded by poll_mu_
  std::thread poll_thread_;
};

}  // namespace continuum
