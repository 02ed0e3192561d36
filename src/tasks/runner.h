// ModelRunner over the model repository: task requests enter the same schedulers as v2
// requests (batching, queue limits, statistics, metrics).
#pragma once

#include "repository/repository.h"
#include "tasks/task.h"

namespace continuum::tasks {

class RepositoryRunner final : public ModelRunner {
 public:
  explicit RepositoryRunner(ModelRepository* repository) : repository_(repository) {}
  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor> inputs,
                                                      std::vector<std::string> outputs) override;

 private:
  ModelRepository* repository_;
};

}  // namespace continuum::tasks
