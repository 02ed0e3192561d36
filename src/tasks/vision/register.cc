// Kept apart from classify_task.cc so that code using the task directly does not need the
// registry (which lives in continuum_tasks).
#include "tasks/builtin.h"
#include "tasks/vision/classify_task.h"

namespace continuum::tasks {

void RegisterImageClassificationTask(TaskRegistry& registry) {
  registry.Register(
      "image-classification",
      [](const CatalogEntry& entry, const TaskLimits& limits) -> StatusOr<std::unique_ptr<Task>> {
        ASSIGN_OR_RETURN(auto task, vision::ImageClassificationTask::Create(entry, limits));
        return std::unique_ptr<Task>(std::move(task));
      });
}

}  // namespace continuum::tasks
