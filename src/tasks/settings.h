// Reading a catalog entry's "settings" with config::Reader (errors name "settings.<field>").
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/config_reader.h"
#include "common/status.h"
#include "tasks/task.h"

namespace continuum::tasks {

// The asset file that settings.<key> names (a file inside the entry folder, see
// CatalogEntry::Asset): "expected a file name" unless `v` is a non-empty string.
inline StatusOr<std::filesystem::path> AssetSetting(const CatalogEntry& entry, const config::Reader& r,
                                                    config::Element v, std::string_view key) {
  std::string_view file;
  if (v.get_string().get(file) || file.empty()) return r.Err(key, "expected a file name");
  return entry.Asset(key, file);
}

// The lines of a text asset (keys, labels): at most `max_mib` MiB, a trailing "\r" dropped from
// each line. Errors name the file as `what` ("keys file /x/k.txt: larger than 1 MiB"): kNotFound
// when it is missing or cannot be read, kInvalidArgument when it is too large or has no line.
inline StatusOr<std::vector<std::string>> ReadAssetLines(const std::filesystem::path& path,
                                                         std::string_view what, uintmax_t max_mib) {
  const std::string name = std::string(what) + " " + path.string();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound(name + ": " + ec.message());
  if (size > (max_mib << 20))
    return InvalidArgument(name + ": larger than " + std::to_string(max_mib) + " MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(name + ": cannot be read");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  if (lines.empty()) return InvalidArgument(name + ": empty");
  return lines;
}

}  // namespace continuum::tasks
