// What `continuum install` put into a model repository, and where: each installed package is a
// folder REPO/.packages/<model>@sha256-<hex>-<variant> (hidden, so the repository scanner skips it) and the
// model REPO/<model> is a symlink to it. The folder holds the package's files and the record
// below, REPO/<model>/.continuum-install.json, which the node reports (`/v2/models/X/config`
// "package", the continuum_model_package_info metric). Std and simdjson only, so the serving
// side links it without the rest of the packages library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace continuum::packages {

inline constexpr std::string_view kPackagesDir = ".packages";
inline constexpr std::string_view kInstallRecordFile = ".continuum-install.json";

struct InstallRecord {
  std::string reference;     // "host/repo/path:tag"
  std::string digest;        // the package manifest's digest
  std::string variant;       // the variant installed ("default" for a package without variants)
  std::string reason;        // why that variant
  std::string installed_at;  // RFC 3339, the installing node's clock
  std::string created_at;    // the package's descriptor.createdAt ("" when it has none)
  int64_t max_version = 0;   // the highest model version the package holds
  std::string previous;      // the package folder this one replaced ("" for a first install)
};

std::string InstallRecordJson(const InstallRecord& record);
// kInvalidArgument, saying which field, for JSON that is not an install record.
StatusOr<InstallRecord> ParseInstallRecord(std::string_view json);

// The record of the package installed as `model` in `repository`. kNotFound when the model was
// not installed from a package; kInvalidArgument for a corrupt record; kPayloadTooLarge beyond
// `max_bytes`.
StatusOr<InstallRecord> ReadInstallRecord(const std::filesystem::path& repository, const std::string& model,
                                          int64_t max_bytes = 64 << 10);

}  // namespace continuum::packages
