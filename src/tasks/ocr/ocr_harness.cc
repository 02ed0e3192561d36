#include "tasks/ocr/ocr_harness.h"

#include <simdjson.h>

namespace continuum::tasks::ocr {

StatusOr<std::unique_ptr<OcrHarness>> OcrHarness::Open(const std::filesystem::path& models,
                                                       const std::filesystem::path& catalog,
                                                       const std::string& entry, int intra_op_threads) {
  InferenceNodeOptions options;
  options.engine.intra_op_threads = intra_op_threads;
  options.repository.root = models;
  options.repository.mode = ModelControlMode::kExplicit;  // the entry's models, loaded below
  options.catalog_dir = catalog.string();
  options.task_threads = 1;  // tasks run on the caller's thread (Run), not through the executor
  options.process_metrics = false;
  std::unique_ptr<OcrHarness> h(new OcrHarness());
  ASSIGN_OR_RETURN(h->node_, InferenceNode::Create(std::move(options)));
  const Catalog::Item* item = h->node_->catalog().Find(entry);
  if (item == nullptr) return NotFound("catalog " + catalog.string() + " has no entry '" + entry + "'");
  if (item->task == nullptr) return FailedPrecondition("catalog entry '" + entry + "': " + item->error);
  h->task_ = dynamic_cast<const OcrTask*>(item->task.get());
  if (h->task_ == nullptr) return InvalidArgument("catalog entry '" + entry + "' is not an ocr task");
  for (const auto& [role, model] : item->entry.models) h->models_.push_back(model);

  RETURN_IF_ERROR(h->node_->Start());
  for (const auto& m : h->models_) {
    Status loaded = h->node_->repository().Load(m);
    if (!loaded.ok()) return loaded.WithContext("repository " + models.string());
  }
  return h;
}

StatusOr<TaskResult> OcrHarness::Run(const std::string& image_bytes) {
  TaskRequest req;
  req.binary = image_bytes;
  return task_->Run(req, runner());
}

namespace {

// Sums batch_stats[*].compute_infer.{ns,count} of a model's statistics.
void AddInfer(const std::string& stats_json, uint64_t* ns, uint64_t* count) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(stats_json).get(root)) return;
  simdjson::dom::array batches;
  if (root["batch_stats"].get_array().get(batches)) return;
  for (auto b : batches) {
    uint64_t v = 0;
    if (!b["compute_infer"]["ns"].get_uint64().get(v)) *ns += v;
    if (!b["compute_infer"]["count"].get_uint64().get(v)) *count += v;
  }
}

}  // namespace

std::vector<OcrHarness::ModelTime> OcrHarness::InferByModel() const {
  std::vector<ModelTime> out;
  for (const auto& m : models_) {
    ModelTime t{m, 0, 0};
    if (auto mv = node_->repository().Get(m); mv.ok())
      AddInfer((*mv)->stats().ToJson(), &t.infer_ns, &t.executions);
    out.push_back(t);
  }
  return out;
}

uint64_t OcrHarness::InferNs() const {
  uint64_t ns = 0;
  for (const auto& t : InferByModel()) ns += t.infer_ns;
  return ns;
}

uint64_t OcrHarness::Executions() const {
  uint64_t n = 0;
  for (const auto& t : InferByModel()) n += t.executions;
  return n;
}

}  // namespace continuum::tasks::ocr
