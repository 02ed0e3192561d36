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
#include "packages/variants.h"
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
  std::vector<Variant> variants;  // empty: a package without variants
};

void WriteVariants(JsonWriter& w, const std::vector<Variant>& variants) {
  w.Key("variants").BeginArray();
  for (const Variant& v : variants) {
    w.BeginObject().Key("files").BeginArray();
    for (const std::string& f : v.files) w.String(f);
    w.EndArray().Key("name").String(v.name).Key("precision").String(v.precision);
    w.Key("requires").BeginObject();
    const Requirements& r = v.needs;
    if (!r.cpu_architecture.empty()) w.Key("cpu_architecture").String(r.cpu_architecture);
    if (!r.cpu_features.empty()) {
      w.Key("cpu_features").BeginArray();
      for (const std::string& f : r.cpu_features) w.String(f);
      w.EndArray();
    }
    if (!r.execution_providers.empty()) {
      w.Key("execution_providers").BeginArray();
      for (const std::string& ep : r.execution_providers) w.String(ep);
      w.EndArray();
    }
    if (r.memory_mb > 0) w.Key("memory_mb").Int(r.memory_mb);
    w.EndObject().EndObject();
  }
  w.EndArray();
}

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
  w.Key("schema_version").Int(1).Key("task").String(spec.task);
  if (!spec.variants.empty()) WriteVariants(w, spec.variants);
  w.EndObject();
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
  if (fs::exists(model_dir / kVariantsFile, ec)) {
    return InvalidArgument("the folder has " + std::string(kVariantsFile) +
                           ": a model with variants is packed on its own, not as part of a catalog entry");
  }
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

bool SameTensors(const std::vector<runtime::TensorSpec>& a, const std::vector<runtime::TensorSpec>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.name == y.name && x.dtype == y.dtype && x.shape == y.shape;
  });
}

StatusOr<std::vector<Variant>> ReadVariantsFile(const fs::path& model_dir, const PackOptions& options) {
  VariantLimits limits;
  limits.max_variants = options.max_variants;
  limits.max_variants_json_bytes = options.max_variants_json_bytes;
  fs::path path = model_dir / kVariantsFile;
  std::error_code ec;
  if (fs::is_symlink(path, ec) || !fs::is_regular_file(path, ec)) {
    return InvalidArgument(Quoted(path.string()) + " is not a regular file");
  }
  auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec || size > limits.max_variants_json_bytes) {
    return InvalidArgument(std::string(kVariantsFile) + " is larger than the limit of " +
                           std::to_string(limits.max_variants_json_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (!in && !in.eof()) return FailedPrecondition("cannot read " + Quoted(path.string()));
  return ParseVariantsJson(text, limits);
}

// A variant model folder's files: those outside variants/ (shared by every variant) and each
// variant's own, relative to variants/<name>/.
struct VariantFiles {
  std::vector<std::string> shared;
  std::map<std::string, std::vector<std::string>> own;
};

StatusOr<VariantFiles> SplitVariantFiles(const std::vector<std::string>& files,
                                         const std::vector<Variant>& variants) {
  VariantFiles out;
  std::string listed;
  for (const Variant& v : variants) {
    out.own[v.name];
    listed += (listed.empty() ? "" : ", ") + v.name;
  }
  const std::string dir = std::string(kVariantsDir) + "/";
  for (const std::string& f : files) {
    if (f == kVariantsFile) continue;
    size_t slash = f.find('/');
    if (f.rfind(dir, 0) == 0) {
      std::string rest = f.substr(dir.size());
      size_t at = rest.find('/');
      if (at == std::string::npos) {
        return InvalidArgument(Quoted(f) + " is a file; " + dir + " holds one folder per variant");
      }
      auto own = out.own.find(rest.substr(0, at));
      if (own == out.own.end()) {
        return InvalidArgument(Quoted(dir + rest.substr(0, at)) + " is not a variant that " +
                               std::string(kVariantsFile) + " lists (it lists: " + listed + ")");
      }
      own->second.push_back(rest.substr(at + 1));
    } else if (slash != std::string::npos && IsVersionName(f.substr(0, slash))) {
      return InvalidArgument(Quoted(f) + ": with " + std::string(kVariantsFile) +
                             ", version folders belong in a variant's folder (" + dir + "<name>/" + f + ")");
    } else {
      out.shared.push_back(f);
    }
  }
  std::set<std::string> shared(out.shared.begin(), out.shared.end());
  for (const auto& [name, own] : out.own) {
    if (own.empty()) {
      return NotFound("variant " + Quoted(name) + " has no folder " + Quoted(dir + name) +
                      " with a version folder (" + dir + name + "/1/model.onnx)");
    }
    for (const std::string& f : own) {
      if (shared.count(f)) {
        return InvalidArgument(Quoted(dir + name + "/" + f) + " and the shared file " + Quoted(f) +
                               " would be laid out at the same path; keep one");
      }
    }
  }
  return out;
}

// A model folder with variants.json: the shared files at their paths, each variant's at
// variants/<name>/..., every variant's models loaded and required to have the same versions,
// inputs and outputs (which variant a node installs is invisible to its clients).
StatusOr<Package> PackVariantFolder(const fs::path& model_dir, const std::string& name,
                                    const PackOptions& options) {
  ASSIGN_OR_RETURN(std::vector<Variant> variants, ReadVariantsFile(model_dir, options));
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(model_dir, options.max_files));
  ASSIGN_OR_RETURN(VariantFiles split, SplitVariantFiles(files, variants));
  ASSIGN_OR_RETURN(auto engine, PackEngine());
  Package p;
  ModelEntry m;
  ASSIGN_OR_RETURN(m.config, LoadModelConfig(model_dir.string(), name));
  RETURN_IF_ERROR(AddFiles(model_dir, split.shared, "", options, &p));
  for (Variant& v : variants) {
    const std::string prefix = std::string(kVariantsDir) + "/" + v.name + "/";
    const std::vector<std::string>& own = split.own[v.name];
    fs::path dir = model_dir / kVariantsDir / v.name;
    ASSIGN_OR_RETURN(std::vector<VersionEntry> versions, ReadVersions(dir, own, prefix, *engine));
    if (m.versions.empty()) {
      m.versions = versions;
      for (VersionEntry& e : m.versions) e.path = e.path.substr(prefix.size());
    }
    for (size_t i = 0; i < std::max(versions.size(), m.versions.size()); ++i) {
      if (i >= versions.size() || i >= m.versions.size() || versions[i].version != m.versions[i].version) {
        return InvalidArgument("variant " + Quoted(v.name) + " has other versions than variant " +
                               Quoted(variants[0].name) + "; every variant holds the same versions");
      }
      if (!SameTensors(versions[i].signature.inputs, m.versions[i].signature.inputs) ||
          !SameTensors(versions[i].signature.outputs, m.versions[i].signature.outputs)) {
        return InvalidArgument(Quoted(versions[i].path) +
                               " has other inputs or outputs (names, datatypes, shapes)" + " than variant " +
                               Quoted(variants[0].name) + "'s; every variant keeps them the same");
      }
    }
    RETURN_IF_ERROR(AddFiles(dir, own, prefix, options, &p));
    for (const std::string& f : own) v.files.push_back(prefix + f);
  }
  RuntimeSpec spec;
  spec.models.push_back(std::move(m));
  spec.variants = std::move(variants);
  return Finish(spec, options, std::move(p));
}

}  // namespace

StatusOr<Package> PackModelFolder(const fs::path& model_dir, const PackOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return NotFound(Quoted(model_dir.string()) + " is not a folder");
  std::string name = fs::absolute(model_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(model_dir).lexically_normal().parent_path().filename().string();
  if (fs::exists(model_dir / kVariantsFile, ec)) return PackVariantFolder(model_dir, name, options);
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
