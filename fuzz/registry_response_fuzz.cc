// libFuzzer target for what a registry sends that `continuum pull` / `push` parse
// (src/registry/internal.h): a manifest or index, a WWW-Authenticate header, a Content-Range. The
// first input byte picks the parser. Invariants: parsing never crashes; a manifest that parses
// names only sha256 digests with non-negative sizes; a Content-Range that parses has
// first <= last and, when the total is known, last < total; a resume decision is append only
// for a 206 that starts where the partial file ends.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "registry/internal.h"

using continuum::fuzz::Check;
namespace r = continuum::registry;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto m = r::ParseManifest(in);
      if (!m.ok()) return 0;
      for (const auto* list : {&m->blobs, &m->children}) {
        for (const auto& d : *list) {
          Check(r::IsSha256Digest(d.digest), "a parsed descriptor has a sha256 digest");
          Check(d.size >= 0, "a parsed descriptor has a non-negative size");
        }
      }
      Check(!m->is_index || m->blobs.empty(), "an index lists manifests, not blobs");
      return 0;
    }
    case 1: {
      auto challenges = r::ParseWwwAuthenticate(in);
      if (!challenges.ok()) return 0;
      for (const auto& c : *challenges) Check(!c.scheme.empty(), "a challenge has a scheme");
      return 0;
    }
    default: {
      auto range = r::ParseContentRange(in);
      if (range.ok()) {
        Check(range->first >= 0 && range->first <= range->last, "first <= last");
        Check(range->total < 0 || range->last < range->total, "last < total");
      }
      const std::string header(in);
      const int64_t have = range.ok() ? range->first : 1;
      const int64_t blob = range.ok() && range->total > 0 ? range->total : 1 << 20;
      auto action = r::ResumeDecision(206, &header, have, blob);
      if (action.ok() && *action == r::ResumeAction::kAppend) {
        Check(range.ok() && range->first == have, "a 206 is appended only where the partial file ends");
      }
      return 0;
    }
  }
}
