// One inference node assembled in-process: the ONNX Runtime engine, the model repository, the
// v2 API and the task API over one metrics registry. `continuum serve` puts it behind an HTTP
// server; `continuum gateway --model-repository` and libcontinuum serve their local:// nodes
// with it, without sockets.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "api/task_api.h"
#include "api/v2_api.h"
#include "http/server.h"
#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/catalog.h"
#include "tasks/executor.h"
#include "tasks/runner.h"
#include "telemetry/metrics.h"

namespace continuum {

struct InferenceNodeOptions {
  runtime::EngineOptions engine;
  RepositoryOptions repository;  // root is required
  V2ApiOptions v2;
  std::string catalog_dir;  // empty: no task catalog (the task routes list nothing)
  tasks::TaskLimits task_limits;
  int task_threads = 0;  // 0: two per core
  size_t task_queue = 1024;
  int64_t task_queue_bytes = tasks::TaskExecutor::kDefaultMaxQueueBytes;  // bytes waiting in the task queue
  bool process_metrics = true;  // process_* families in /metrics (a server's, not a library's)
};

class InferenceNode {
 public:
  // Builds every part; models are not loaded yet (see Start). Errors: the engine cannot start,
  // the catalog does not load.
  static StatusOr<std::unique_ptr<InferenceNode>> Create(InferenceNodeOptions options);
  ~InferenceNode();  // Shutdown, then the parts go in reverse order
  InferenceNode(const InferenceNode&) = delete;
  InferenceNode& operator=(const InferenceNode&) = delete;

  // Loads the repository as its control mode says (blocks until the startup models are in).
  Status Start();
  // True when every model meant to load is ready.
  bool Ready() const { return repository_->Ready(); }

  // An http::Handler: task routes (/ai, /accounts/.../ai, /v1) to the task API, the rest to the
  // v2 API. Never blocks; thread-safe.
  void Handle(http::Request&& request, http::Responder respond);

  // Refuses new work and drains: running tasks finish, queued requests are answered.
  // Idempotent.
  void Shutdown();

  runtime::Engine& engine() { return *engine_; }
  ModelRepository& repository() { return *repository_; }
  telemetry::Registry& registry() { return *registry_; }
  const tasks::Catalog& catalog() const { return *catalog_; }  // empty without a catalog folder

 private:
  InferenceNode() = default;

  // Declared in construction order; destroyed in reverse.
  std::unique_ptr<runtime::Engine> engine_;
  std::unique_ptr<telemetry::Registry> registry_;
  std::unique_ptr<InferenceMetricFamilies> families_;
  std::unique_ptr<ModelRepository> repository_;
  std::unique_ptr<V2Api> v2_;
  std::unique_ptr<tasks::Catalog> catalog_;
  std::unique_ptr<tasks::RepositoryRunner> runner_;
  std::unique_ptr<tasks::TaskExecutor> executor_;
  std::unique_ptr<TaskApi> task_api_;
  bool shut_down_ = false;
};

}  // namespace continuum
