#include "tasks/builtin.h"

namespace continuum::tasks {

// Each task kind is compiled in when its folder's library is part of the build.
void RegisterBuiltinTasks(TaskRegistry& registry) {
#ifdef CONTINUUM_TASK_OCR
  RegisterOcrTask(registry);
#endif
#ifdef CONTINUUM_TASK_VISION
  RegisterImageClassificationTask(registry);
#endif
#ifdef CONTINUUM_TASK_VAD
  RegisterVadTask(registry);
#endif
#ifdef CONTINUUM_TASK_TEXT
  RegisterTextTasks(registry);
#endif
  (void)registry;
}

const TaskRegistry& TaskRegistry::BuiltIn() {
  static const TaskRegistry registry = [] {
    TaskRegistry r;
    RegisterBuiltinTasks(r);
    return r;
  }();
  return registry;
}

}  // namespace continuum::tasks
