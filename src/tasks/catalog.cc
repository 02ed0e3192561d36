#include "tasks/catalog.h"

#include <simdjson.h>

#include <algorithm>
#include <fstream>

#include "common/config_reader.h"
#include "common/log.h"

namespace continuum::tasks {

namespace fs = std::filesystem;

StatusOr<CatalogEntry> ParseCatalogEntry(std::string_view json, const fs::path& dir) {
  config::Reader r("catalog.json: ");
  config::Object o;
  RETURN_IF_ERROR(r.Parse(json, &o));
  CatalogEntry e;
  e.dir = dir;
  if (auto v = config::Find(o, "schema_version")) {
    int64_t version = 0;
    if (v->get_int64().get(version) || version != 1) return r.Err("schema_version", "only 1 is supported");
  }
  RETURN_IF_ERROR(r.CheckKeys(
      o, "", {"schema_version", "name", "task", "description", "license", "source", "models", "settings"}));
  for (auto [key, out] : {std::pair{"name", &e.name}, std::pair{"task", &e.task}}) {
    ASSIGN_OR_RETURN(auto v, r.Required(o, "", key));
    ASSIGN_OR_RETURN(*out, r.String(v, key));
  }
  for (auto [key, out] : {std::pair{"description", &e.description}, std::pair{"license", &e.license},
                          std::pair{"source", &e.source}}) {
    if (auto v = config::Find(o, key)) {
      ASSIGN_OR_RETURN(*out, r.String(*v, key));
    }
  }
  if (e.name.empty() || e.name.size() > 200) return r.Err("name", "must be 1..200 characters");
  if (auto v = config::Find(o, "models")) {
    ASSIGN_OR_RETURN(auto m, r.Object(*v, "models"));
    for (auto [role, model] : m) {
      std::string_view s;
      if (model.get_string().get(s))
        return r.Err(config::Key("models", role), "expected a repository model name");
      e.models[std::string(role)] = std::string(s);
    }
  }
  e.settings_json = "{}";
  if (auto v = config::Find(o, "settings")) {
    RETURN_IF_ERROR(r.Object(*v, "settings").status());
    e.settings_json = simdjson::minify(*v);
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
