// Splitting request paths into segments, shared by the API front ends.
#pragma once

#include <string_view>
#include <vector>

namespace continuum {

// "/v2//models/m/" -> {"v2", "models", "m"}: empty segments are dropped.
inline std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  // At most one segment per '/' and one more: one allocation instead of one per doubling (every
  // request's route is parsed by the filter chain and again by the gateway).
  size_t slashes = 0;
  for (char c : path) slashes += c == '/';
  parts.reserve(slashes + 1);
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

}  // namespace continuum
