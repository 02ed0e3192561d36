// Containment of paths that come from files we do not control (ONNX external-data locations,
// catalog asset settings, the files of a folder being imported): what such a path names must
// really lie inside a root folder, whatever symlinks it goes through.
#pragma once

#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace continuum {

struct InsideOptions {
  // true: the file must exist (kNotFound otherwise). false: a missing file passes (the existing
  // part of its path is still resolved and checked, and a dangling symlink is refused).
  bool must_exist = true;
};

// Resolves `relative` against `root` and returns the real path of what it names (every symlink
// resolved). Errors quote `relative`, say why, and leave naming the field to the caller:
// kInvalidArgument when the path may leave `root`: an empty path, a NUL byte, an absolute path, a
// ".." component, a real location outside the real `root` (a symlink at any level that leaves it,
// or a dangling one); kFailedPrecondition when it stays inside but names something that is not a
// regular file (folder, FIFO, device, socket); kNotFound when `root` does not exist, or the file
// does not and `options.must_exist`.
StatusOr<std::filesystem::path> ResolveInside(const std::filesystem::path& root, std::string_view relative,
                                              InsideOptions options = {});

// Whether `path` (absolute, or relative to the working directory), with its symlinks resolved
// as far as it exists, is `root` (resolved too) or below it.
bool PathInside(const std::filesystem::path& root, const std::filesystem::path& path);

}  // namespace continuum
