// PackModelFolder and PackCatalogEntry: a model folder's (or a catalog entry's and its models')
// files as layers, plus the runtime manifest.
#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <system_error>

#include "common/json_writer.h"
#include "common/tensor.h"
#include "packages/digest.h"
#include "packages/package.h"
#include "packages/package_internal.h"
#include "repository/model_config.h"
#include "runtime/runtime.h"
#include "tasks/catalog.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;

bool IsVersionName(const std::string& s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The regular files under `dir`, as sorted paths relative to it.
StatusOr<std::vector<std::string>> ListFiles(const fs::path& dir, int64_t max_files) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return FailedPrecondition("cannot list " + Quoted(dir.string()) + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return FailedPrecondition("cannot list " + Quoted(dir.string()) + ": " + ec.message());
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (it->path().filename().string().front() == '.') {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink()) {
      return InvalidArgument(Quoted(rel) + " is a symlink; a package holds regular files only");
    }
    if (it->is_directory()) continue;
    if (!it->is_regular_file()) return InvalidArgument(Quoted(rel) + " is not a regular file");
    if (static_cast<int64_t>(files.size()) >= max_files) {
      return InvalidArgument("the folder holds more than the limit of " + std::to_string(max_files) +
                             " files");
    }
    files.push_back(rel);
  }
  if (ec) return FailedPrecondition("cannot list " + Quoted(dir.string()) + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

void WriteTensors(JsonWriter& w, const std::vector<runtime::TensorSpec>& specs) {
  w.BeginArray();
  for (const auto& s : specs) {
    w.BeginObject()
        .Key("datatype")
        .String(DataTypeName(s.dtype))
        .Key("name")
        .String(s.name)
        .Key("shape")
        .BeginArray();
    for (int64_t d : s.shape) w.Int(d);
    w.EndArray().EndObject();
  }
  w.EndArray();
}

struct VersionEntry {
  int64_t version;
  std::string path;  // inside the package
  runtime::ModelSignature signature;
};

struct ModelEntry {
  ModelConfig config;
  std::vector<VersionEntry> versions;
};

// What the package runs: a plain model ("infer") or a catalog entry's task over its models.
struct RuntimeSpec {
  std::string task = "infer";
  std::string catalog_name;  // empty for a plain model
  std::map<std::string, std::string> roles;
  std::vector<ModelEntry> models;
};

void WriteModel(JsonWriter& w, const ModelEntry& m) {
  const ModelLimits& l = m.config.limits;
  w.BeginObject().Key("config").Raw(ModelConfigToJson(m.config));
  w.Key("limits").BeginObject().Key("max_queue_bytes").Int(l.max_queue_bytes);
  w.Key("max_queue_size").Int(l.max_queue_size).Key("max_tensor_elements").Int(l.max_tensor_elements);
  w.Key("queue_timeout_microseconds").Int(l.queue_timeout_microseconds).EndObject();
  w.Key("name").String(m.config.name).Key("versions").BeginArray();
  for (const VersionEntry& v : m.versions) {
    w.BeginObject().Key("inputs");
    WriteTensors(w, v.signature.inputs);
    w.Key("outputs");
    WriteTensors(w, v.signature.outputs);
    w.Key("path").String(v.path).Key("version").Int(v.version).EndObject();
  }
  w.EndArray().EndObject();
}

std::string RuntimeManifestJson(const RuntimeSpec& spec, const PackOptions& options) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  if (!spec.catalog_name.empty()) {
    w.Key("catalog").BeginObject().Key("models").BeginObject();
    for (const auto& [role, model] : spec.roles) w.Key(role).String(model);
    w.EndObject().Key("name").String(spec.catalog_name).EndObject();
  }
  w.Key("min_onnxruntime_version").String(runtime::Engine::OrtVersion());
  w.Key("models").BeginArray();
  for (const ModelEntry& m : spec.models) WriteModel(w, m);
  w.EndArray();
  w.Key("reference").String(options.reference.ToString());
  w.Key("schema_version").Int(1).Key("task").String(spec.task).EndObject();
  return out;
}

// Loads every version's model.onnx, for its inputs and outputs. `prefix`: where the folder's
// files lie in the package ("" or "models/<name>/").
StatusOr<std::vector<VersionEntry>> ReadVersions(const fs::path& dir, const std::vector<std::string>& files,
                                                 const std::string& prefix, runtime::Engine& engine) {
  std::vector<VersionEntry> versions;
  for (const std::string& f : files) {
    size_t slash = f.find('/');
    if (slash == std::string::npos || !IsVersionName(f.substr(0, slash)) ||
        f.substr(slash + 1) != "model.onnx") {
      continue;
    }
    versions.push_back({std::stoll(f.substr(0, slash)), f, {}});
  }
  if (versions.empty()) {
    return NotFound("no model in " + Quoted(dir.string()) +
                    ": it has no version folder with model.onnx (1/model.onnx)");
  }
  std::sort(versions.begin(), versions.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  for (VersionEntry& v : versions) {
    auto session = engine.Load(dir / v.path, {});
    if (!session.ok())
      return InvalidArgument(prefix + v.path + " does not load: " + session.status().message());
    v.signature = (*session)->signature();
    v.path = prefix + v.path;
  }
  return versions;
}

// The files under `dir` as layers at `prefix` + their relative path.
Status AddFiles(const fs::path& dir, const std::vector<std::string>& files, const std::string& prefix,
                const PackOptions& options, Package* p) {
  for (const std::string& rel : files) {
    std::string f = prefix + rel;
    if (f == kRuntimeManifestPath) {
      return InvalidArgument(Quoted(f) + " is the name of the package's runtime manifest; rename the file");
    }
    auto d = DigestFile(dir / rel, options.max_file_bytes);
    if (!d.ok()) return d.status();
    Blob b;
    b.media_type = std::string(LayerMediaType(f));
    b.digest = d->digest;
    b.size = d->size;
    b.source = dir / rel;
    b.annotations = {{std::string(kFilepathAnnotation), f}, {std::string(kTitleAnnotation), f}};
    p->layers.push_back(std::move(b));
  }
  if (static_cast<int64_t>(p->layers.size()) > options.max_files) {
    return InvalidArgument("the package would hold more than the limit of " +
                           std::to_string(options.max_files) + " files");
  }
  return Status::Ok();
}

// A repository model folder, its files at `prefix`.
StatusOr<ModelEntry> AddModelFolder(const fs::path& model_dir, const std::string& name,
                                    const std::string& prefix, const PackOptions& options,
                                    runtime::Engine& engine, Package* p) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return NotFound(Quoted(model_dir.string()) + " is not a folder");
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(model_dir, options.max_files));
  ModelEntry m;
  ASSIGN_OR_RETURN(m.versions, ReadVersions(model_dir, files, prefix, engine));
  ASSIGN_OR_RETURN(m.config, LoadModelConfig(model_dir.string(), name));
  RETURN_IF_ERROR(AddFiles(model_dir, files, prefix, options, p));
  return m;
}

Package Finish(const RuntimeSpec& spec, const PackOptions& options, Package p) {
  Blob runtime_manifest = MemoryBlob(std::string(kWeightConfigMediaType), RuntimeManifestJson(spec, options));
  runtime_manifest.annotations = {{std::string(kFilepathAnnotation), std::string(kRuntimeManifestPath)},
                                  {std::string(kTitleAnnotation), std::string(kRuntimeManifestPath)}};
  p.layers.push_back(std::move(runtime_manifest));
  FinishPackage(options, &p);
  return p;
}

StatusOr<std::unique_ptr<runtime::Engine>> PackEngine() {
  runtime::EngineOptions eo;
  eo.intra_op_threads = 1;
  return runtime::Engine::Create(eo);
}

}  // namespace

StatusOr<Package> PackModelFolder(const fs::path& model_dir, const PackOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return NotFound(Quoted(model_dir.string()) + " is not a folder");
  std::string name = fs::absolute(model_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(model_dir).lexically_normal().parent_path().filename().string();
  ASSIGN_OR_RETURN(auto engine, PackEngine());
  Package p;
  RuntimeSpec spec;
  ASSIGN_OR_RETURN(ModelEntry m, AddModelFolder(model_dir, name, "", options, *engine, &p));
  spec.models.push_back(std::move(m));
  return Finish(spec, options, std::move(p));
}

StatusOr<Package> PackCatalogEntry(const fs::path& entry_dir, const fs::path& repository,
                                   const PackOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(entry_dir, ec)) return NotFound(Quoted(entry_dir.string()) + " is not a folder");
  if (!fs::is_regular_file(entry_dir / "catalog.json", ec)) {
    return NotFound("no catalog entry in " + Quoted(entry_dir.string()) + ": it has no catalog.json");
  }
  if (static_cast<int64_t>(fs::file_size(entry_dir / "catalog.json", ec)) > options.max_catalog_json_bytes) {
    return InvalidArgument("catalog.json is larger than the limit of " +
                           std::to_string(options.max_catalog_json_bytes) + " bytes");
  }
  std::ifstream in(entry_dir / "catalog.json", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (!in && !in.eof())
    return FailedPrecondition("cannot read " + Quoted((entry_dir / "catalog.json").string()));
  ASSIGN_OR_RETURN(tasks::CatalogEntry entry, tasks::ParseCatalogEntry(text, entry_dir));
  if (entry.models.empty())
    return InvalidArgument("catalog.json: models: the entry names no repository model");
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(entry_dir, options.max_files));
  Package p;
  RETURN_IF_ERROR(AddFiles(entry_dir, files, "catalog/", options, &p));
  ASSIGN_OR_RETURN(auto engine, PackEngine());
  RuntimeSpec spec;
  spec.task = entry.task;
  spec.catalog_name = entry.name;
  spec.roles = entry.models;
  std::set<std::string> names;
  for (const auto& [role, name] : entry.models) names.insert(name);
  for (const std::string& name : names) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
      return InvalidArgument("catalog.json: models: " + Quoted(name) + " is not a repository model name");
    }
    auto m = AddModelFolder(repository / name, name, "models/" + name + "/", options, *engine, &p);
    if (!m.ok()) return m.status().WithContext("model " + Quoted(name));
    spec.models.push_back(std::move(m).value());
  }
  PackOptions with_entry = options;
  if (with_entry.description.empty()) with_entry.description = entry.description;
  if (with_entry.licenses.empty() && !entry.license.empty()) with_entry.licenses = {entry.license};
  return Finish(spec, with_entry, std::move(p));
}

}  // namespace continuum::packages
