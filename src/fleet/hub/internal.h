// The hub's parts, each testable alone: what an agent reports, what an operator deploys (and how
// both are kept in the store), the node state the hub keeps between reports (metric history for
// rollout windows), and the read-only views (plan, topology, service discovery, dashboard).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_writer.h"
#include "common/status.h"
#include "fleet/hub/hub.h"
#include "fleet/policy/constraints.h"
#include "fleet/policy/properties.h"
#include "fleet/rollout/rollout.h"
#include "fleet/state/desired_state.h"

namespace continuum::fleet::hub {

// [A-Za-z0-9][A-Za-z0-9._-]{0,62}: node and deployment names.
bool ValidName(std::string_view name);

// One model as a node reports it (fleet/README.md, the report).
struct ModelReport {
  std::string name, digest;
  std::vector<int64_t> versions;
  bool ready = false;
  std::string error;
  int64_t since_ms = 0;
  double success = 0, failure = 0;  // cumulative
  Buckets buckets;                  // cumulative request-duration histogram (seconds)
  bool operator==(const ModelReport&) const = default;
};

struct NodeReport {
  std::string address;  // where the node's `serve` answers
  Properties properties;
  int64_t sequence = 0;  // highest desired-state sequence the agent applied
  std::string state = "ok";
  std::string message;
  std::vector<ModelReport> models;
  bool operator==(const NodeReport&) const = default;
};

// Strict: unknown fields refused, names and sizes bounded; errors name the field ("report.models[1].digest:
// ...").
StatusOr<NodeReport> ParseNodeReport(std::string_view json, int64_t max_models);
void WriteNodeReport(JsonWriter& w, const NodeReport& r);

// One point of a node's per-model metric history (the cumulative counters as reported).
struct Sample {
  int64_t at_ms = 0;
  std::string digest;
  double success = 0, failure = 0;
  Buckets buckets;
};

// What the hub knows of a node (the store keeps all but `history`, `last_seen_ms` between writes).
struct NodeState {
  std::string name;
  NodeReport report;
  Properties operator_properties;
  int64_t registered_ms = 0, last_report_ms = 0, last_seen_ms = 0;
  std::map<std::string, std::deque<Sample>> history;  // by model, oldest first, bounded
  // The desired state last issued to the node.
  int64_t sequence = 0;
  int64_t expires_ms = 0;
  std::vector<Target> targets;
  std::string envelope;
  int64_t revision = 0;  // of the stored node document this replica last read or wrote (0: none)

  Properties Merged() const { return MergeProperties(report.properties, operator_properties); }
  const ModelReport* Model(std::string_view model) const;
};

std::string NodeDocJson(const NodeState& n);
// Restores a stored node (not its history nor its desired state).
StatusOr<NodeState> ParseNodeDoc(std::string_view json, int64_t max_models);

// Appends a sample of `m` at `at_ms` when its counters or digest changed (at most `max_samples` kept).
void RecordSample(NodeState& n, const ModelReport& m, int64_t at_ms, size_t max_samples);
// The model's observation over [since_ms, now]: counter deltas between the newest sample at or
// before `since_ms` (else the oldest kept) and the latest, for the digest reported now.
ModelObservation Observe(const NodeState& n, std::string_view model, int64_t since_ms, bool fresh);

struct Deployment {
  std::string name;
  std::string package;     // as the operator gave it: "host/repo:tag" or "host/repo@sha256:..."
  std::string repository;  // "host/repo"
  std::string digest;      // the package's manifest digest (a tag resolved when applied)
  std::string model;       // the model the package installs (default: the repository's last part)
  std::string constraint;  // fleet/policy constraint text ("" matches every node)
  std::string residency;   // "" or a residency class the node's "jurisdiction" must include
  int64_t min_replicas = 1;
  int64_t max_replicas = 1000000;
  RolloutStrategy rollout;
  int64_t generation = 1;  // +1 whenever the digest changes (a new rollout)
  int64_t created_ms = 0, updated_ms = 0;
  std::string stable_package, stable_digest;  // the last package whose rollout succeeded
  int64_t revision = 0;                       // the store's
  std::string PinnedPackage() const { return repository + "@" + digest; }
};

// The operator's deployment (PUT body), strict; `name` from the path (or the body's "name"; a
// plan's deployment may have none: `allow_unnamed`). The digest is left empty when the package
// names a tag (the caller resolves it).
StatusOr<Deployment> ParseDeploymentSpec(std::string_view json, std::string name, bool allow_unnamed = false);
void WriteDeployment(JsonWriter& w, const Deployment& d);
std::string DeploymentDocJson(const Deployment& d);
StatusOr<Deployment> ParseDeploymentDoc(std::string_view json);

// "host[:port]/path/name:tag" or "...@sha256:<hex>" split; kInvalidArgument naming what is wrong.
struct PackageRef {
  std::string repository, tag, digest;
};
StatusOr<PackageRef> ParsePackageRef(std::string_view ref);

// Resolves a tag through the registry (HEAD, else GET of the manifest): "sha256:<hex>".
StatusOr<std::string> ResolveTagInRegistry(const HubOptions& options, const std::string& repository,
                                           const std::string& tag);

// Placement: which nodes a deployment may run on, and why the others may not.
struct PlanRow {
  std::string node;
  bool match = false;
  bool selected = false;
  bool fresh = true;
  std::string reason;
};
struct PlanResult {
  std::vector<PlanRow> rows;          // every known node, by name
  std::vector<std::string> selected;  // the nodes the deployment runs on, in batch order
  std::vector<std::string> warnings;  // e.g. fewer matching nodes than min_replicas
};
// `current` says which nodes run the deployment now (they are kept first, so a change of
// max_replicas or a new node does not move it around).
StatusOr<PlanResult> PlanDeployment(const Deployment& d, const std::map<std::string, NodeState>& nodes,
                                    const std::function<bool(const NodeState&)>& fresh,
                                    const std::function<bool(const NodeState&)>& current);
void WritePlan(JsonWriter& w, const Deployment& d, const PlanResult& p);

// The router topology (src/router/topology.h, schema_version 1) of the fleet: every node with an
// address and at least one ready model, its tier/region/jurisdiction/cost/energy from its properties.
std::string TopologyJson(const std::map<std::string, NodeState>& nodes,
                         const std::function<bool(const NodeState&)>& fresh);
// Prometheus HTTP service discovery: every node with an address, and the hub (`self_url`).
std::string ServiceDiscoveryJson(const std::map<std::string, NodeState>& nodes, std::string_view self_url);
// "host:port" of an http(s) URL, and its scheme; nullopt when it is not one.
std::optional<std::pair<std::string, std::string>> HostPortOf(std::string_view url);

}  // namespace continuum::fleet::hub
