// Model packages: a repository model folder as a CNCF ModelPack artifact (modelpack/model-spec),
// an OCI image manifest whose config and layers are content-addressed blobs.
//
//   manifest  application/vnd.oci.image.manifest.v1+json, artifactType
//             application/vnd.cncf.model.manifest.v1+json
//   config    application/vnd.cncf.model.config.v1+json: {descriptor, config, modelfs}
//   layers    one uncompressed layer per file, sorted by path, each annotated with
//             org.cncf.model.filepath and org.opencontainers.image.title; the media type says
//             what the file is (weight, weight.config, doc, code). Continuum's runtime manifest
//             (continuum-package.json: task, models, inputs and outputs, minimum ONNX Runtime
//             version, limits) is one more weight.config layer.
//
// Building is deterministic: the same files and options give the same bytes and digests (paths
// sorted, JSON written with a fixed key order, no clock: createdAt comes from the options).
// layout.h writes a package into an OCI image layout and reads it back, checking every digest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::packages {

inline constexpr std::string_view kManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kIndexMediaType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kArtifactType = "application/vnd.cncf.model.manifest.v1+json";
inline constexpr std::string_view kConfigMediaType = "application/vnd.cncf.model.config.v1+json";
inline constexpr std::string_view kWeightMediaType = "application/vnd.cncf.model.weight.v1.raw";
inline constexpr std::string_view kWeightConfigMediaType = "application/vnd.cncf.model.weight.config.v1.raw";
inline constexpr std::string_view kDocMediaType = "application/vnd.cncf.model.doc.v1.raw";
inline constexpr std::string_view kCodeMediaType = "application/vnd.cncf.model.code.v1.raw";
inline constexpr std::string_view kFilepathAnnotation = "org.cncf.model.filepath";
inline constexpr std::string_view kTitleAnnotation = "org.opencontainers.image.title";
inline constexpr std::string_view kCreatedAnnotation = "org.opencontainers.image.created";
inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
// The path of Continuum's runtime manifest inside a package.
inline constexpr std::string_view kRuntimeManifestPath = "continuum-package.json";

// "registry/repository:tag", e.g. "localhost:5000/models/add_sub:1". No tag means "latest".
struct Reference {
  std::string repository;  // "localhost:5000/models/add_sub"
  std::string tag;         // "1"
  std::string ToString() const { return repository + ":" + tag; }
};
// kInvalidArgument, saying what is wrong, for an empty name, a digest reference ("@sha256:...")
// or a tag outside [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
StatusOr<Reference> ParseReference(std::string_view ref);

// A blob of the package: its descriptor and where its bytes are.
struct Blob {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>"
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::filesystem::path source;         // the file that holds the bytes; empty when `data` does
  std::string data;                     // the bytes of a blob built in memory (config, runtime manifest)
  const std::string& filepath() const;  // the org.cncf.model.filepath annotation, or ""
};

struct Package {
  Blob config;
  std::vector<Blob> layers;  // sorted by filepath
  std::string manifest;      // the manifest JSON, exactly the bytes its digest is taken over
  std::string manifest_digest;
};

struct PackOptions {
  Reference reference;
  // RFC 3339 time for descriptor.createdAt and the org.opencontainers.image.created annotation;
  // empty: neither is written. Never taken from the clock (see CreatedAtFromEpoch).
  std::string created_at;
  std::string architecture;           // config.architecture; empty: not written
  std::string description;            // descriptor.description; empty: not written
  std::vector<std::string> licenses;  // descriptor.licenses (SPDX ids); empty: not written
  int64_t max_files = 4096;           // files in the model folder
  int64_t max_file_bytes = int64_t{64} << 30;
  int64_t max_catalog_json_bytes = 1 << 20;   // a catalog entry's catalog.json
  int64_t max_variants = 64;                  // variants a variants.json may list (variants.h)
  int64_t max_variants_json_bytes = 1 << 20;  // a model folder's variants.json
};

// "2026-12-06T20:00:00Z" for seconds since the Unix epoch (SOURCE_DATE_EPOCH's meaning).
// kInvalidArgument for anything but a non-negative decimal integer.
StatusOr<std::string> CreatedAtFromEpoch(std::string_view seconds);

// Packs a repository model folder: config.json (optional) and numeric version folders, each
// with model.onnx (and its external data). Every model is loaded with ONNX Runtime to record its
// inputs and outputs. Hidden files (".name") are left out; a symlink or other non-regular file
// is refused. kNotFound: `model_dir` missing or without a version; kInvalidArgument: a model that
// does not load, a limit exceeded; kFailedPrecondition: a file that cannot be read.
// A folder with variants.json holds its models in variant folders instead
// (variants/<name>/1/model.onnx; see variants.h).
StatusOr<Package> PackModelFolder(const std::filesystem::path& model_dir, const PackOptions& options);

// Packs a catalog entry (`<catalog>/<slug>`: catalog.json and its assets) with the repository
// models it names, read from `repository`: the entry's files at catalog/..., each model's at
// models/<name>/...; the runtime manifest carries the entry's task and roles, and the descriptor
// its description and licence unless `options` set them. Errors as PackModelFolder's, and those
// of catalog.json (tasks/catalog.h), prefixed by the model they concern.
StatusOr<Package> PackCatalogEntry(const std::filesystem::path& entry_dir,
                                   const std::filesystem::path& repository, const PackOptions& options);

// The media type of a file by its path: ".onnx" and the data files in version folders are
// weights; README, LICENSE and .md files docs; .py and .sh code; .json, .txt, .yaml, .yml
// and the rest weight.config.
std::string_view LayerMediaType(std::string_view filepath);

}  // namespace continuum::packages
