// libFuzzer target for a stored rollout (fleet/rollout/rollout.h): ParseRollout over arbitrary
// bytes, then the engine over what it accepts. Invariants: errors are InvalidArgument or
// PayloadTooLarge and start with "rollout: "; a parsed rollout writes the JSON it parses back to
// the same rollout; Advance (no observations, a selection derived from the input, a time within
// the stored range) never crashes, is idempotent (a second tick with the same inputs changes
// nothing and reports nothing), and leaves a rollout whose JSON parses again; AssignmentFor
// names `to` or `from` for every node.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fleet/rollout/rollout.h"
#include "fuzz_check.h"

namespace {

using namespace continuum;
using namespace continuum::fleet;
using continuum::fuzz::Check;

void CheckEngine(const Rollout& r, size_t input_size) {
  RolloutStrategy s;
  s.batch_size = static_cast<int64_t>(input_size % 4) + 1;
  s.max_failures = static_cast<int64_t>(input_size % 3);
  s.min_success_ms = 0;
  std::vector<std::string> selected;
  size_t i = 0;
  for (const Batch& b : r.batches) {
    for (const std::string& n : b.nodes) {
      if (i++ % 3 != 1) selected.push_back(n);
    }
  }
  selected.push_back("joined-node");
  int64_t now = std::min(r.updated_ms + static_cast<int64_t>(input_size) * 1000, int64_t{1} << 53);
  AdvanceResult once = Advance(r, s, {}, selected, now);
  AdvanceResult twice = Advance(once.rollout, s, {}, selected, now);
  Check(twice.rollout == once.rollout, "a second tick with the same inputs changed the rollout");
  Check(twice.events.empty(), "a second tick with the same inputs reported events");
  StatusOr<Rollout> stored = ParseRollout(RolloutToJson(once.rollout));
  Check(stored.ok(), "an advanced rollout's JSON does not parse");
  Check(*stored == once.rollout, "an advanced rollout's JSON parses to another rollout");
  for (const std::string& n : selected) {
    std::optional<Assignment> a = AssignmentFor(once.rollout, n, true);
    if (a) {
      Check(a->digest == r.to_digest || a->digest == r.from_digest, "an assignment names neither digest");
    } else {
      Check(r.from_digest.empty(), "no assignment although the rollout has a `from`");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  StatusOr<Rollout> r = ParseRollout(input);
  if (!r.ok()) {
    Check(r.status().code() == StatusCode::kInvalidArgument ||
              r.status().code() == StatusCode::kPayloadTooLarge,
          "a refused rollout is not InvalidArgument or PayloadTooLarge");
    Check(r.status().message().rfind("rollout: ", 0) == 0, "an error does not start with 'rollout: '");
    return 0;
  }
  std::string json = RolloutToJson(*r);
  StatusOr<Rollout> back = ParseRollout(json);
  Check(back.ok(), "a parsed rollout's JSON does not parse");
  Check(*back == *r, "a parsed rollout's JSON parses to another rollout");
  Check(RolloutToJson(*back) == json, "the JSON of a rollout is not stable");
  CheckEngine(*r, size);
  return 0;
}
