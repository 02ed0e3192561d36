// The router's inputs: the topology file and the policy a request carries; their types and
// parsers (router.h places requests with them).
//
// ---------------------------------------------------------------------------------------------
// Topology file (JSON, schema_version 1). Unknown fields are refused.
//
// {
//   "schema_version": 1,
//   "origin": "gateway",                  // optional; the name links start from (default "gateway")
//   "residency_classes": ["eu", "eu-de", "us"],  // optional; when given, every jurisdiction and
//                                          // policy residency must be one of these. When absent,
//                                          // the known classes are the union of node jurisdictions.
//   "nodes": [
//     { "name": "edge-paris",              // unique, non-empty
//       "url": "http://10.0.0.7:8000",     // required, non-empty (http://, https:// or local://)
//       "tls": { "ca": "ca.pem", "cert": "gw.pem", "key": "gw.key", "server_name": "edge-paris" },
//                                          // optional, https:// only, every key optional: this
//                                          // node's CA bundle, client certificate + key (mutual
//                                          // TLS; both or neither), the name its certificate must
//                                          // carry (default: the url's host); each replaces the
//                                          // gateway's --upstream-* default. Paths as given.
//       "tier": "edge",                    // device | edge | cloud
//       "region": "eu-west",               // optional
//       "jurisdiction": ["eu", "eu-fr"],   // residency classes this node satisfies (may be empty)
//       "hardware": "jetson-orin",         // optional, free text
//       "cost_per_compute_second": 0.0004, // >= 0, any currency unit
//       "energy_per_compute_second": 15,   // >= 0, joules per second of compute
//       "models": [ { "name": "resnet50",  // models held, each with its versions (non-empty)
//                     "versions": [1, 2],
//                     "instances": 2,      // optional, >= 1 (default 1): parallel executors
//                     "compute_ms": 4.0 } ] // optional warm-up seed of compute time (default 10)
//     } ],
//   "links": [                             // measured/declared network paths; endpoints must be
//     { "from": "gateway", "to": "edge-paris", "rtt_ms": 8, "bandwidth_mbps": 400 } ],
//                                          // the origin or a node name; (from,to) unique.
//                                          // A node without a link from the origin is predicted
//                                          // with the default link (rtt 50 ms, 100 Mbps).
//   "model_defaults": {                    // per-model policy defaults, same shape as a policy
//     "resnet50": { "latency_target_ms": 50, "objective": "cheapest" } }
// }
//
// Errors name the offending field: "nodes[2].tier: must be device, edge or cloud".
//
// ---------------------------------------------------------------------------------------------
// Policy. From JSON request `parameters` (other keys are ignored there, they belong to the model):
//   {"latency_target_ms": 50, "residency": "eu", "objective": "fastest"|"cheapest"|"least_energy",
//    "prefer_tier": "edge", "hedge": true}
// or from the header value
//   X-Continuum-Policy: latency_target_ms=50; residency=eu; objective=cheapest; hedge=on
// (header keys are the same; booleans on|off|true|false|1|0; unknown keys are refused).
// Fields set by the request override the topology's model_defaults for that model.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::router {

enum class Tier { kDevice, kEdge, kCloud };
enum class Objective { kFastest, kCheapest, kLeastEnergy };

std::string_view TierName(Tier t);
std::string_view ObjectiveName(Objective o);

struct ModelHolding {
  std::string name;
  std::vector<int64_t> versions;
  int instances = 1;
  double compute_ms = 10.0;  // warm-up seed of the compute-time estimate
};

// A node's own TLS settings (topology "tls"); an empty field keeps the gateway's default.
struct NodeTls {
  std::string ca, cert, key, server_name;
  bool operator==(const NodeTls&) const = default;
};

struct Node {
  std::string name;
  std::string url;
  std::optional<NodeTls> tls;  // https:// nodes only
  Tier tier = Tier::kCloud;
  std::string region;
  std::vector<std::string> jurisdiction;
  std::string hardware;
  double cost_per_compute_second = 0;
  double energy_per_compute_second = 0;
  std::vector<ModelHolding> models;

  const ModelHolding* FindModel(std::string_view model, int64_t version) const;  // version 0: any
  bool Satisfies(std::string_view residency_class) const;
};

struct Link {
  std::string from;
  std::string to;
  double rtt_ms = 0;
  double bandwidth_mbps = 0;
};

// Every field optional: unset means "not specified here" (defaults apply after merging).
struct Policy {
  std::optional<double> latency_target_ms;
  std::optional<std::string> residency;
  std::optional<Objective> objective;
  std::optional<Tier> prefer_tier;
  std::optional<bool> hedge;

  bool operator==(const Policy&) const = default;
};

// `over`'s set fields replace `base`'s.
Policy MergePolicy(const Policy& base, const Policy& over);
// Parses the policy keys of a JSON object (a request's `parameters`); other keys are ignored.
// Errors read "parameters.objective: must be fastest, cheapest or least_energy".
StatusOr<Policy> ParsePolicyJson(std::string_view json);
// Parses an X-Continuum-Policy header value. Errors read "X-Continuum-Policy: hedge: ...".
StatusOr<Policy> ParsePolicyHeader(std::string_view value);
// Compact JSON form of a policy (only set fields).
std::string PolicyToJson(const Policy& p);

struct Topology {
  static constexpr int kSchemaVersion = 1;
  std::string origin = "gateway";
  std::vector<std::string> residency_classes;  // known classes (declared, or union of jurisdictions)
  std::vector<Node> nodes;
  std::vector<Link> links;
  std::map<std::string, Policy> model_defaults;

  const Node* FindNode(std::string_view name) const;
  bool KnowsResidency(std::string_view cls) const;
};

StatusOr<Topology> ParseTopology(std::string_view json);
StatusOr<Topology> LoadTopology(const std::string& path);

}  // namespace continuum::router
