#include "tasks/catalog.h"

#include <simdjson.h>

#include <algorithm>
#include <fstream>

#include "common/log.h"

namespace continuum::tasks {

namespace fs = std::filesystem;

StatusOr<CatalogEntry> ParseCatalogEntry(std::string_view json, const fs::path& dir) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err) {
    return InvalidArgument(std::string("catalog.json: invalid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object o;
  if (root.get_object().get(o)) return InvalidArgument("catalog.json: expected an object");
  CatalogEntry e;
  e.dir = dir;
  auto str = [&](const char* key, std::string* out, bool required) -> Status {
    simdjson::dom::element v;
    if (o[key].get(v)) {
      return required ? InvalidArgument(std::string("catalog.json: ") + key + ": required") : Status::Ok();
    }
    std::string_view s;
    if (v.get_string().get(s))
      return InvalidArgument(std::string("catalog.json: ") + key + ": expected a string");
    *out = std::string(s);
    return Status::Ok();
  };
  int64_t version = 1;
  simdjson::dom::element v;
  if (!o["schema_version"].get(v) && (v.get_int64().get(version) || version != 1)) {
    return InvalidArgument("catalog.json: schema_version: only 1 is supported");
  }
  for (auto [k, _] : o) {
    static constexpr std::string_view kKnown[] = {"schema_version", "name",   "task",   "description",
                                                  "license",        "source", "models", "settings"};
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
      return InvalidArgument("catalog.json: " + std::string(k) + ": unknown field");
    }
  }
  RETURN_IF_ERROR(str("name", &e.name, true));
  RETURN_IF_ERROR(str("task", &e.task, true));
  RETURN_IF_ERROR(str("description", &e.description, false));
  RETURN_IF_ERROR(str("license", &e.license, false));
  RETURN_IF_ERROR(str("source", &e.source, false));
  if (e.name.empty() || e.name.size() > 200)
    return InvalidArgument("catalog.json: name: must be 1..200 characters");
  if (!o["models"].get(v)) {
    simdjson::dom::object m;
    if (v.get_object().get(m)) return InvalidArgument("catalog.json: models: expected an object");
    for (auto [role, model] : m) {
      std::string_view s;
      if (model.get_string().get(s)) {
        return InvalidArgument("catalog.json: models." + std::string(role) +
                               ": expected a repository model name");
      }
      e.models[std::string(role)] = std::string(s);
    }
  }
  e.settings_json = "{}";
  if (!o["settings"].get(v)) {
    if (!v.is_object()) return InvalidArgument("catalog.json: settings: expected an object");
    e.settings_json = simdjson::minify(v);
  }
  return e;
}

StatusOr<std::unique_ptr<Catalog>> Catalog::Load(const fs::path& dir, const TaskRegistry& registry,
                                                 const TaskLimits& limits) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound("catalog " + dir.string() + " is not a directory");
  auto catalog = std::make_unique<Catalog>();
  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    fs::path f = it->path() / "catalog.json";
    if (fs::is_regular_file(f, ec)) files.push_back(f);
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Item item;
    auto e = ParseCatalogEntry(text, f.parent_path());
    if (!e.ok()) {
      item.entry.name = f.parent_path().filename().string();
      item.error = e.status().message();
    } else {
      item.entry = std::move(e).value();
      if (catalog->Find(item.entry.name)) {
        item.error = "duplicate catalog name '" + item.entry.name + "'";
      } else {
        auto t = registry.Create(item.entry, limits);
        if (t.ok()) {
          item.task = std::move(t).value();
        } else {
          item.error = t.status().message();
        }
      }
    }
    if (!item.error.empty()) LogError("catalog entry " + f.string() + ": " + item.error);
    catalog->items_.push_back(std::move(item));
  }
  return catalog;
}

std::unique_ptr<Catalog> Catalog::Empty() { return std::make_unique<Catalog>(); }

const Catalog::Item* Catalog::Find(std::string_view name) const {
  for (const auto& i : items_) {
    if (i.entry.name == name) return &i;
  }
  return nullptr;
}

}  // namespace continuum::tasks
