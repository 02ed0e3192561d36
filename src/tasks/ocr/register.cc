// Kept apart from ocr_task.cc so that code using OcrTask directly (tests, the bench) does not
// need the registry (which lives in continuum_tasks).
#include "tasks/builtin.h"
#include "tasks/ocr/ocr_task.h"

namespace continuum::tasks {

void RegisterOcrTask(TaskRegistry& registry) {
  registry.Register(
      "ocr", [](const CatalogEntry& entry, const TaskLimits& limits) -> StatusOr<std::unique_ptr<Task>> {
        ASSIGN_OR_RETURN(std::unique_ptr<ocr::OcrTask> task, ocr::OcrTask::Create(entry, limits));
        return std::unique_ptr<Task>(std::move(task));
      });
}

}  // namespace continuum::tasks
