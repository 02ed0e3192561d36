// Streaming SHA-256 of files, for blobs too large to hold in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace continuum::packages {

struct FileDigest {
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
};

// Reads `path` once, hashing it, and when `copy_to` is not empty writes the same bytes there.
// kFailedPrecondition when a file cannot be read or written; kInvalidArgument when it is longer
// than `max_bytes`.
StatusOr<FileDigest> DigestFile(const std::filesystem::path& path, int64_t max_bytes,
                                const std::filesystem::path& copy_to = {});

// "sha256:<hex>" of bytes in memory.
std::string DigestOf(std::string_view bytes);

}  // namespace continuum::packages
