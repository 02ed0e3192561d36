// An in-process OCR service for measurements (the accuracy test and the bench): the
// InferenceNode that `continuum serve` runs (src/node/inference_node.h), called without HTTP.
// Only the models of the chosen catalog entry are loaded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"
#include "node/inference_node.h"
#include "tasks/ocr/ocr_task.h"

namespace continuum::tasks::ocr {

class OcrHarness {
 public:
  // `models`: a repository (tools/make_catalog.sh OUT -> OUT/models); `catalog`: the catalog
  // folder; `entry`: the catalog name of an "ocr" entry. intra_op_threads 0: one per core.
  static StatusOr<std::unique_ptr<OcrHarness>> Open(const std::filesystem::path& models,
                                                    const std::filesystem::path& catalog,
                                                    const std::string& entry, int intra_op_threads = 0);

  const OcrTask& task() const { return *task_; }
  ModelRunner& runner() { return node_->runner(); }
  // Runs the task on an encoded image, as POST /ai/run would.
  StatusOr<TaskResult> Run(const std::string& image_bytes);
  // ONNX Runtime execution time so far, summed over the entry's models (the scheduler's
  // per-execution compute_infer statistics), and the number of executions.
  uint64_t InferNs() const;
  uint64_t Executions() const;
  struct ModelTime {
    std::string model;
    uint64_t infer_ns = 0, executions = 0;
  };
  std::vector<ModelTime> InferByModel() const;

 private:
  OcrHarness() = default;
  std::unique_ptr<InferenceNode> node_;
  const OcrTask* task_ = nullptr;
  std::vector<std::string> models_;
};

}  // namespace continuum::tasks::ocr
