#include "tasks/runner.h"

#include "tasks/executor.h"

namespace continuum::tasks {

std::future<StatusOr<std::vector<Tensor>>> RepositoryRunner::RunAsync(const std::string& model,
                                                                      std::vector<Tensor> inputs,
                                                                      std::vector<std::string> outputs) {
  auto promise = std::make_shared<std::promise<StatusOr<std::vector<Tensor>>>>();
  auto future = promise->get_future();
  auto mv = repository_->Get(model);
  if (!mv.ok()) {
    promise->set_value(mv.status());
    return future;
  }
  InferRequest req;
  req.model_name = model;
  req.cancel = TaskExecutor::CurrentCancel();  // the task's client going away drops it too
  req.inputs = std::move(inputs);
  for (auto& o : outputs) req.outputs.push_back({std::move(o), false});
  Status st = (*mv)->Infer(std::move(req), [promise](StatusOr<InferResponse> r) {
    if (!r.ok()) {
      promise->set_value(r.status());
    } else {
      promise->set_value(std::move(r->outputs));
    }
  });
  if (!st.ok()) promise->set_value(st);
  return future;
}

}  // namespace continuum::tasks
