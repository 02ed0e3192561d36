#include "tasks/registry.h"

namespace continuum::tasks {

void TaskRegistry::Register(std::string kind, TaskFactory factory) {
  factories_[std::move(kind)] = std::move(factory);
}

StatusOr<std::unique_ptr<Task>> TaskRegistry::Create(const CatalogEntry& entry,
                                                     const TaskLimits& limits) const {
  auto it = factories_.find(entry.task);
  if (it == factories_.end()) {
    std::string kinds;
    for (const auto& [k, _] : factories_) kinds += (kinds.empty() ? "" : ", ") + k;
    return InvalidArgument("unknown task '" + entry.task + "' (this build serves: " + kinds + ")");
  }
  auto t = it->second(entry, limits);
  if (!t.ok()) return t.status().WithContext("catalog entry '" + entry.name + "'");
  return t;
}

std::vector<std::string> TaskRegistry::Kinds() const {
  std::vector<std::string> k;
  for (const auto& [name, _] : factories_) k.push_back(name);
  return k;
}

}  // namespace continuum::tasks
