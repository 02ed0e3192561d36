// Registration of the task kinds built into this binary; each lives in its own folder.
#pragma once

#include "tasks/registry.h"

namespace continuum::tasks {

void RegisterBuiltinTasks(TaskRegistry& registry);  // builtin.cc: calls the ones below

void RegisterOcrTask(TaskRegistry& registry);                  // tasks/ocr: "ocr"
void RegisterImageClassificationTask(TaskRegistry& registry);  // tasks/vision: "image-classification"
void RegisterVadTask(TaskRegistry& registry);                  // tasks/vad: "voice-activity-detection"
void RegisterTextTasks(TaskRegistry& registry);  // tasks/text: "text-embeddings", "text-classification"

}  // namespace continuum::tasks
