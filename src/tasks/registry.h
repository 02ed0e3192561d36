// Task kinds by name: each kind's library registers its factory (RegisterOcrTask, ...), the
// catalog creates an entry's task through it. A library of its own (continuum_task_registry), so
// that the kinds depend on it and continuum_tasks on them, without a cycle.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "tasks/task.h"

namespace continuum::tasks {

using TaskFactory = std::function<StatusOr<std::unique_ptr<Task>>(const CatalogEntry&, const TaskLimits&)>;

// Task kinds by name. Thread-safe after construction (registration happens once at start).
class TaskRegistry {
 public:
  // Every task kind built into this binary; defined in builtin.cc (continuum_tasks, which links
  // every kind's library).
  static const TaskRegistry& BuiltIn();
  void Register(std::string kind, TaskFactory factory);
  // Registers a kind whose class has `static StatusOr<std::unique_ptr<T>> Create(const
  // CatalogEntry&, const TaskLimits&)`.
  template <class T>
  void Register(std::string kind) {
    Register(std::move(kind),
             [](const CatalogEntry& entry, const TaskLimits& limits) -> StatusOr<std::unique_ptr<Task>> {
               ASSIGN_OR_RETURN(std::unique_ptr<T> task, T::Create(entry, limits));
               return std::unique_ptr<Task>(std::move(task));
             });
  }
  StatusOr<std::unique_ptr<Task>> Create(const CatalogEntry& entry, const TaskLimits& limits) const;
  std::vector<std::string> Kinds() const;

 private:
  std::map<std::string, TaskFactory> factories_;
};

}  // namespace continuum::tasks
