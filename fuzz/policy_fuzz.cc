// libFuzzer target for the routing policy a request carries (router/topology.h): the
// X-Continuum-Policy header and the policy keys of a JSON body's `parameters`. The input is tried
// as both. Invariants: errors are InvalidArgument and name where (the header, or `parameters`); a
// parsed policy holds only valid values (a latency target in (0, 3600000] ms, a residency class
// of letters, digits, - _ .); it round-trips through its JSON form (PolicyToJson, as the decision
// log writes it) and through the header form to the same policy; merging it over itself or over
// an empty policy changes nothing.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "router/topology.h"

namespace {

using namespace continuum;
using namespace continuum::router;

using continuum::fuzz::Check;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string ToHeader(const Policy& p) {
  std::string h;
  auto add = [&h](std::string_view k, std::string_view v) { (((h += k) += '=') += v) += "; "; };
  if (p.latency_target_ms) {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", *p.latency_target_ms);
    add("latency_target_ms", text);
  }
  if (p.residency) add("residency", *p.residency);
  if (p.objective) add("objective", ObjectiveName(*p.objective));
  if (p.prefer_tier) add("prefer_tier", TierName(*p.prefer_tier));
  if (p.hedge) add("hedge", *p.hedge ? "on" : "off");
  return h;
}

void CheckPolicy(const Policy& p) {
  if (p.latency_target_ms) {
    const double v = *p.latency_target_ms;
    Check(std::isfinite(v) && v > 0 && v <= 3'600'000, "latency target within (0, 3600000]");
  }
  if (p.residency) {
    Check(!p.residency->empty(), "residency not empty");
    for (unsigned char c : *p.residency)
      Check(std::isalnum(c) || c == '-' || c == '_' || c == '.', "residency of letters, digits, - _ .");
  }
  const std::string json = PolicyToJson(p);
  auto from_json = ParsePolicyJson(json);
  Check(from_json.ok(), "PolicyToJson parses");
  Check(*from_json == p, "PolicyToJson round-trips");
  auto from_header = ParsePolicyHeader(ToHeader(p));
  Check(from_header.ok(), "the header form parses");
  Check(*from_header == p, "the header form round-trips");
  Check(MergePolicy(p, p) == p && MergePolicy(Policy{}, p) == p && MergePolicy(p, Policy{}) == p,
        "merging with itself or an empty policy changes nothing");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto header = ParsePolicyHeader(input);
  if (header.ok()) {
    CheckPolicy(*header);
  } else {
    Check(header.status().code() == StatusCode::kInvalidArgument, "header errors are InvalidArgument");
    Check(StartsWith(header.status().message(), "X-Continuum-Policy: "), "header errors name the header");
  }
  auto json = ParsePolicyJson(input);
  if (json.ok()) {
    CheckPolicy(*json);
  } else {
    Check(json.status().code() == StatusCode::kInvalidArgument, "parameters errors are InvalidArgument");
    Check(StartsWith(json.status().message(), "parameters"), "parameters errors name parameters");
  }
  return 0;
}
