#include "node/inference_node.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace continuum {

StatusOr<std::unique_ptr<InferenceNode>> InferenceNode::Create(InferenceNodeOptions options) {
  if (options.repository.root.empty()) return InvalidArgument("a model repository folder is required");
  std::unique_ptr<InferenceNode> node(new InferenceNode());
  ASSIGN_OR_RETURN(node->engine_, runtime::Engine::Create(options.engine));
  node->registry_ = std::make_unique<telemetry::Registry>();
  if (options.process_metrics) telemetry::RegisterProcessMetrics(*node->registry_);
  node->families_ = std::make_unique<InferenceMetricFamilies>(*node->registry_);
  node->repository_ =
      std::make_unique<ModelRepository>(options.repository, node->engine_.get(), node->families_.get());
  node->v2_ = std::make_unique<V2Api>(options.v2, node->repository_.get(), node->registry_.get());

  // The task layer: a catalog of task entries over the same repository and schedulers.
  node->catalog_ = tasks::Catalog::Empty();
  if (!options.catalog_dir.empty()) {
    ASSIGN_OR_RETURN(node->catalog_, tasks::Catalog::Load(options.catalog_dir, tasks::TaskRegistry::BuiltIn(),
                                                          options.task_limits));
  }
  node->runner_ = std::make_unique<tasks::RepositoryRunner>(node->repository_.get());
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  node->executor_ = std::make_unique<tasks::TaskExecutor>(
      options.task_threads > 0 ? options.task_threads : 2 * cores, std::max<size_t>(1, options.task_queue),
      std::max<int64_t>(1, options.task_queue_bytes));
  node->task_api_ = std::make_unique<TaskApi>(node->catalog_.get(), node->runner_.get(),
                                              node->executor_.get(), options.task_limits);
  return node;
}

InferenceNode::~InferenceNode() { Shutdown(); }

Status InferenceNode::Start() { return repository_->Start(); }

void InferenceNode::Handle(http::Request&& request, http::Responder respond) {
  if (TaskApi::Owns(request.path)) return task_api_->Handle(std::move(request), std::move(respond));
  v2_->Handle(std::move(request), std::move(respond));
}

void InferenceNode::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  v2_->BeginShutdown();
  executor_->Shutdown();  // running tasks finish (their tensors are still served)
  repository_->Shutdown();
}

}  // namespace continuum
