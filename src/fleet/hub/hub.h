// `continuum hub`: the fleet's control plane. It keeps the inventory of nodes (each node's
// reported and operator-set properties, address, models and metrics), the deployments (a package
// by digest + a placement constraint + residency + replica bounds + a rollout strategy), drives
// each deployment's progressive rollout (fleet/rollout) from the nodes' own metrics, and issues
// every node a signed, sequenced, expiring desired-state document (fleet/state) that its agent
// pulls. Agents only ever call the hub (pull, long poll); the hub never calls them.
//
// State lives in a fleet::Store (SQLite by default; PostgreSQL for several replicas behind one
// address). Every replica serves the API; only the holder of the "rollouts" lease runs Tick's
// decisions, so two replicas never issue conflicting documents, and every write is checked
// against the revision it read (a replica killed mid-write loses nothing that was acknowledged).
//
// The HTTP API (fleet/README.md has the full reference):
//   agents     POST /api/v1/nodes/{node}/report, GET /api/v1/nodes/{node}/desired-state?after=&wait_s=
//   operators  PUT|GET|DELETE /api/v1/deployments/{name}, POST /api/v1/plan, GET .../{name}/plan,
//              GET /api/v1/nodes[/{node}], PUT /api/v1/nodes/{node}/properties,
//              GET /api/v1/rollouts, GET /api/v1/events
//   consumers  GET /api/v1/topology (the gateway's live topology), GET /api/v1/sd (Prometheus
//              HTTP service discovery), GET /api/v1/dashboard, GET / (the page), GET /metrics
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/message.h"

namespace continuum::signing {
class PrivateKey;
}
namespace continuum::telemetry {
class Registry;
}

namespace continuum::fleet {

class Store;

struct HubOptions {
  std::string replica_id = "hub";  // the lease holder's name (unique per replica)
  std::string advertise_url;       // this hub's own address, listed in /api/v1/sd
  std::string admin_token;         // operators' bearer token; empty: operator calls unauthenticated
  std::string agent_token;         // agents' bearer token; empty: agent calls unauthenticated
  // Agents prove which node they are with a client certificate: an agent call must come over TLS
  // with a verified client certificate (the listener's --tls-client-ca) whose common name is the
  // node's name; any other is refused (403). Without it, any holder of the agent token may act for
  // any node.
  bool agent_cert_identity = false;
  // Readers' bearer token (gateways, Prometheus, the dashboard); empty: reads are open. The admin
  // token reads too.
  std::string read_token;
  int64_t max_wait_s = 300;      // longest long poll (desired state, topology)
  int64_t tick_ms = 1000;        // how often the rollout driver runs
  int64_t lease_ttl_ms = 10000;  // the rollout driver's lease
  // A node not heard from (report or poll) for this long is stale: not chosen for new batches,
  // shown as such; its assignment is kept (it keeps serving what it has).
  int64_t stale_after_ms = 360000;
  int64_t desired_state_ttl_ms = int64_t{7} * 24 * 3600 * 1000;  // expiry of each document
  int64_t max_nodes = 100000;
  int64_t max_deployments = 10000;
  int64_t max_models_per_node = 256;
  int64_t max_report_bytes = 1 << 20;
  int64_t max_events_per_page = 1000;
  int64_t max_waiters = 200000;  // long polls held at once; beyond: 503
  // Registry access for resolving a deployment's tag to its digest (HEAD of the manifest).
  bool registry_insecure = false;  // plain http to a loopback registry
  std::string registry_ca_file;
  std::string docker_config;
  // The clock (unix epoch milliseconds); tests and the scale simulation set their own.
  std::function<int64_t()> now_ms;
  // Resolves "host/repo:tag" to "sha256:<hex>"; default: the registry (above). Tests may replace it.
  std::function<StatusOr<std::string>(const std::string& repository, const std::string& tag)> resolve_tag;
};

class Hub {
 public:
  // `key` signs every desired-state document.
  static StatusOr<std::unique_ptr<Hub>> Create(std::unique_ptr<Store> store,
                                               std::unique_ptr<signing::PrivateKey> key, HubOptions options);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // The whole HTTP API; long polls answer later, from the waiter thread or when state changes.
  void Handle(http::Request&& request, http::Responder respond);

  // One pass of the rollout driver (when this replica holds the lease): every deployment's node
  // selection and rollout step, then a new desired-state document for every node whose targets
  // changed or whose document expires within half its lifetime. Start() runs it every tick_ms.
  Status Tick();

  // Starts the driver and the long-poll sweeper threads; Stop() ends them and answers every
  // long poll still held (304), then releases the lease.
  void Start();
  void Stop();

  telemetry::Registry& metrics();

  struct Impl;

 private:
  explicit Hub(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace continuum::fleet
