#include "common/paths.h"

#include <string>

namespace continuum {

namespace fs = std::filesystem;

namespace {

// `real` and `real_root` are both canonical: a lexical comparison is enough.
bool Below(const fs::path& real_root, const fs::path& real) {
  fs::path rel = real.lexically_relative(real_root);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

bool PathInside(const fs::path& root, const fs::path& path) {
  std::error_code ec;
  fs::path real_root = fs::canonical(root, ec);
  if (ec) return false;
  fs::path real = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return !ec && Below(real_root, real);
}

StatusOr<fs::path> ResolveInside(const fs::path& root, std::string_view relative, InsideOptions options) {
  const std::string shown = "'" + std::string(relative) + "'";
  if (relative.empty()) return InvalidArgument("an empty path");
  if (relative.find('\0') != std::string_view::npos) return InvalidArgument(shown + " contains a NUL byte");
  const fs::path rel{std::string(relative)};
  if (rel.has_root_path()) return InvalidArgument(shown + " is an absolute path");
  for (const auto& part : rel) {
    if (part == "..") return InvalidArgument(shown + " has a '..' component");
  }
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return NotFound("folder " + root.string() + ": " + ec.message());
  const fs::path real = fs::weakly_canonical(real_root / rel, ec);
  if (ec) return InvalidArgument(shown + " cannot be resolved: " + ec.message());  // e.g. a symlink loop
  if (!Below(real_root, real)) {
    return InvalidArgument(shown + " resolves to " + real.string() + ", outside " + real_root.string());
  }
  const fs::file_status st = fs::status(real, ec);
  if (fs::exists(st)) {
    if (!fs::is_regular_file(st)) return FailedPrecondition(shown + " is not a regular file");
    return real;
  }
  // weakly_canonical leaves the missing tail as written: its first component may be a symlink
  // whose target does not exist (yet); whoever opens the path later would follow it.
  for (fs::path p = real; p != real_root && p.has_relative_path(); p = p.parent_path()) {
    if (fs::is_symlink(fs::symlink_status(p, ec))) {
      return InvalidArgument(shown + " goes through a dangling symlink (" + p.string() + ")");
    }
  }
  if (options.must_exist) return NotFound(shown + " does not exist in " + real_root.string());
  return real;
}

}  // namespace continuum
