// PackModelFolder: a repository model folder's files as layers, plus the runtime manifest.
#include <algorithm>
#include <system_error>

#include "common/json_writer.h"
#include "common/tensor.h"
#include "packages/digest.h"
#include "packages/package.h"
#include "packages/package_internal.h"
#include "repository/model_config.h"
#include "runtime/runtime.h"

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
    std::string rel = fs::relative(it->path(), dir).generic_string();
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
  std::string path;
  runtime::ModelSignature signature;
};

std::string RuntimeManifestJson(const ModelConfig& config, const std::vector<VersionEntry>& versions,
                                const PackOptions& options) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("limits").BeginObject();
  w.Key("max_queue_bytes").Int(config.limits.max_queue_bytes);
  w.Key("max_queue_size").Int(config.limits.max_queue_size);
  w.Key("max_tensor_elements").Int(config.limits.max_tensor_elements);
  w.Key("queue_timeout_microseconds").Int(config.limits.queue_timeout_microseconds);
  w.EndObject();
  w.Key("min_onnxruntime_version").String(runtime::Engine::OrtVersion());
  w.Key("models").BeginArray().BeginObject();
  w.Key("config").Raw(ModelConfigToJson(config));
  w.Key("name").String(config.name).Key("versions").BeginArray();
  for (const VersionEntry& v : versions) {
    w.BeginObject().Key("inputs");
    WriteTensors(w, v.signature.inputs);
    w.Key("outputs");
    WriteTensors(w, v.signature.outputs);
    w.Key("path").String(v.path).Key("version").Int(v.version).EndObject();
  }
  w.EndArray().EndObject().EndArray();
  w.Key("reference").String(options.reference.ToString());
  w.Key("schema_version").Int(1).Key("task").String("infer").EndObject();
  return out;
}

// Loads every version's model.onnx, for its inputs and outputs.
StatusOr<std::vector<VersionEntry>> ReadVersions(const fs::path& dir, const std::vector<std::string>& files) {
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
  runtime::EngineOptions eo;
  eo.intra_op_threads = 1;
  ASSIGN_OR_RETURN(auto engine, runtime::Engine::Create(eo));
  for (VersionEntry& v : versions) {
    auto session = engine->Load(dir / v.path, {});
    if (!session.ok()) return InvalidArgument(v.path + " does not load: " + session.status().message());
    v.signature = (*session)->signature();
  }
  return versions;
}

}  // namespace

StatusOr<Package> PackModelFolder(const fs::path& model_dir, const PackOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return NotFound(Quoted(model_dir.string()) + " is not a folder");
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListFiles(model_dir, options.max_files));
  ASSIGN_OR_RETURN(std::vector<VersionEntry> versions, ReadVersions(model_dir, files));
  std::string name = fs::absolute(model_dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::absolute(model_dir).lexically_normal().parent_path().filename().string();
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir.string(), name));
  Package p;
  for (const std::string& f : files) {
    if (f == kRuntimeManifestPath) {
      return InvalidArgument(Quoted(f) + " is the name of the package's runtime manifest; rename the file");
    }
    auto d = DigestFile(model_dir / f, options.max_file_bytes);
    if (!d.ok()) return d.status();
    Blob b;
    b.media_type = std::string(LayerMediaType(f));
    b.digest = d->digest;
    b.size = d->size;
    b.source = model_dir / f;
    b.annotations = {{std::string(kFilepathAnnotation), f}, {std::string(kTitleAnnotation), f}};
    p.layers.push_back(std::move(b));
  }
  Blob runtime_manifest =
      MemoryBlob(std::string(kWeightConfigMediaType), RuntimeManifestJson(config, versions, options));
  runtime_manifest.annotations = {{std::string(kFilepathAnnotation), std::string(kRuntimeManifestPath)},
                                  {std::string(kTitleAnnotation), std::string(kRuntimeManifestPath)}};
  p.layers.push_back(std::move(runtime_manifest));
  FinishPackage(options, &p);
  return p;
}

}  // namespace continuum::packages
