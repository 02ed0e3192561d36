// `continuum gateway`: the front door that routes each inference request to a node.
#include "gateway/gateway.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/server_flags.h"
#include "cli/serving.h"
#include "common/log.h"
#include "gateway/dispatcher.h"
#include "gateway/hub_source.h"
#include "gateway/upstream_tls.h"
#include "http/io_loop.h"
#include "http/server.h"
#include "node/inference_node.h"
#include "router/decision_log.h"
#include "router/router.h"
#include "telemetry/metrics.h"

namespace continuum::cli {

namespace {

constexpr const char* kCommand = "gateway";

struct GatewayConfig {
  std::string topology_path, decision_log_path, repo_dir, catalog_dir;
  ServerFlags server{"0.0.0.0", 8080};
  FilterFlags filters{8081, "tenants, keys, /metrics"};
  int64_t request_timeout_ms = 30000, probe_ms = 1000, eject_after = 3;
  int64_t explore_after_ms = 10000;
  int64_t intra_op = 0;
  double attempt_timeout_factor = 4, attempt_budget_share = 0.5;
  bool await_hedge_losers = true, verbose = false;
  tls::ClientTlsOptions upstream;  // https:// nodes without a "tls" block of their own
  std::string hub_url, hub_token_file, hub_ca_file, hub_cert_file, hub_key_file, hub_cache;
  int64_t hub_wait_s = 30, hub_backoff_max_ms = 30000;
};

void RegisterHubFlags(Flags& f, GatewayConfig* c) {
  f.String("hub", &c->hub_url,
           "follow the topology the hub serves at URL/api/v1/topology (long polls; with --topology, the "
           "file is the topology until the hub answers)");
  f.String("hub-token-file", &c->hub_token_file, "the bearer token sent to the hub (a file holding it)");
  f.String("hub-ca-file", &c->hub_ca_file, "https:// hub: the CA bundle (PEM) its certificate must chain to");
  f.String("hub-client-cert", &c->hub_cert_file, "https:// hub: the gateway's client certificate (PEM)");
  f.String("hub-client-key", &c->hub_key_file, "the private key (PEM) of --hub-client-cert");
  f.String("hub-cache", &c->hub_cache,
           "write each topology received from the hub to this file; read at start when the hub does not "
           "answer");
  f.Int("hub-wait-s", &c->hub_wait_s, "how long one long poll of the hub may wait for a change (1..3600)");
  f.Int("hub-backoff-max-ms", &c->hub_backoff_max_ms,
        "the longest wait between retries while the hub does not answer (doubling from 500 ms)");
}

void RegisterRoutingFlags(Flags& f, GatewayConfig* c) {
  f.String("decision-log", &c->decision_log_path,
           "append one hash-chained JSON record per request to this file");
  f.Int("request-timeout-ms", &c->request_timeout_ms,
        "deadline of a request without a latency target, fallbacks included");
  f.Double("attempt-timeout-factor", &c->attempt_timeout_factor,
           "each candidate but the last waits at most this x its predicted p95 before the next is "
           "tried (0: off)");
  f.Double("attempt-budget-share", &c->attempt_budget_share,
           "and at least this share of the request's deadline (0..1), so a straggler is still waited for");
  f.Bool("await-hedge-losers", &c->await_hedge_losers,
         "keep the losing copy of a hedge race counted on its node until its answer (dropped) arrives; "
         "false: cancel it at once (an exploration copy is awaited either way)");
  f.Int("probe-interval-ms", &c->probe_ms, "how often ejected nodes are probed with GET /v2/health/ready");
  f.Int("eject-after-failures", &c->eject_after, "consecutive failures that eject a node");
  f.String("upstream-ca", &c->upstream.ca_file,
           "https:// nodes: the CA bundle (PEM) their certificates must chain to (default: the system "
           "trust store); a node's \"tls\" block in the topology overrides it");
  f.String("upstream-cert", &c->upstream.cert_file,
           "https:// nodes: the gateway's client certificate (PEM) for nodes that ask for one");
  f.String("upstream-key", &c->upstream.key_file,
           "https:// nodes: the client certificate's private key (PEM)");
  f.Int("explore-after-ms", &c->explore_after_ms,
        "a node whose bandwidth estimate is this old, and whose rtt has improved since, gets a copy of a "
        "large request from the hedge budget, so a link that got faster is found (0: never)");
}

// Parses and checks the arguments into `c`; returns the exit code when the command ends here
// (--help, a usage error).
std::optional<int> ParseGatewayArgs(const std::vector<std::string>& args, GatewayConfig* c,
                                    http::ServerOptions* so) {
  Flags f;
  f.String("topology", &c->topology_path, "topology file (JSON, see src/router/README.md)");
  RegisterHubFlags(f, c);
  c->server.Register(f);
  RegisterRoutingFlags(f, c);
  f.String("model-repository", &c->repo_dir,
           "serve the topology's local:// nodes in-process from this model repository");
  f.String("catalog", &c->catalog_dir, "task catalog of the in-process node (with --model-repository)");
  f.Int("intra-op-threads", &c->intra_op, "in-process node: ONNX Runtime thread pool size (0: one per core)");
  c->filters.Register(f);
  f.Bool("log-verbose", &c->verbose, "log debug messages");
  if (auto code =
          f.ParseOrExplain(kCommand, "usage: continuum gateway --topology FILE | --hub URL [flags]", args))
    return code;
  if (c->verbose) SetLogLevel(LogLevel::kDebug);
  if (c->topology_path.empty() && c->hub_url.empty())
    return PrintError(kCommand, InvalidArgument("--topology or --hub is required"));
  if (c->hub_url.empty() && (!c->hub_token_file.empty() || !c->hub_ca_file.empty() || !c->hub_cache.empty() ||
                             !c->hub_cert_file.empty() || !c->hub_key_file.empty()))
    return PrintError(kCommand, InvalidArgument("--hub-token-file, --hub-ca-file, --hub-client-cert, "
                                                "--hub-client-key and --hub-cache need --hub"));
  if (!c->catalog_dir.empty() && c->repo_dir.empty())
    return PrintError(kCommand, InvalidArgument("--catalog needs --model-repository"));
  auto server = c->server.Options();
  if (!server.ok()) return PrintError(kCommand, server.status());
  *so = std::move(server).value();
  if (Status st = c->filters.Check(); !st.ok()) return PrintError(kCommand, st);
  if (c->request_timeout_ms < 1 || c->probe_ms < 1 || c->eject_after < 1 || c->explore_after_ms < 0 ||
      c->intra_op < 0 || c->attempt_timeout_factor < 0 || c->attempt_budget_share < 0 ||
      c->attempt_budget_share > 1 || c->hub_wait_s < 1 || c->hub_wait_s > 3600 || c->hub_backoff_max_ms < 500)
    return PrintError(kCommand, InvalidArgument("a numeric flag is out of range (see --help)"));
  return std::nullopt;
}

// The in-process node for local:// targets, loaded before the gateway listens.
StatusOr<std::unique_ptr<InferenceNode>> StartLocalNode(const GatewayConfig& c) {
  InferenceNodeOptions no;
  no.engine.intra_op_threads = static_cast<int>(c.intra_op);
  no.engine.own_malloc = true;
  no.repository.root = c.repo_dir;
  no.v2.server_version = CONTINUUM_VERSION;
  no.catalog_dir = c.catalog_dir;
  ASSIGN_OR_RETURN(std::unique_ptr<InferenceNode> node, InferenceNode::Create(std::move(no)));
  RETURN_IF_ERROR(node->Start());
  LogInfo(node->Ready() ? "in-process node ready for local:// nodes"
                        : "in-process node started, but some models failed to load");
  return node;
}

gateway::GatewayOptions GatewayOptionsFor(const GatewayConfig& c,
                                          std::vector<std::shared_ptr<http::IoLoop>> loops,
                                          telemetry::Registry* registry, InferenceNode* node) {
  gateway::GatewayOptions go;
  go.loops = std::move(loops);
  go.metrics = registry;
  go.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
  go.attempt_timeout_factor = c.attempt_timeout_factor;
  go.attempt_budget_share = c.attempt_budget_share;
  go.await_hedge_losers = c.await_hedge_losers;
  go.probe_period = std::chrono::milliseconds(std::min<int64_t>(c.probe_ms, 250));
  go.upstream_tls_options = c.upstream;
  if (node)
    go.local_handler = [node](http::Request&& r, http::Responder w) {
      node->Handle(std::move(r), std::move(w));
    };
  return go;
}

// Without the filter chain (whose admin listener serves it), GET /metrics on the main port.
http::Handler WithMetricsRoute(gateway::Gateway* gw, telemetry::Registry* registry) {
  return [gw, registry](http::Request&& r, http::Responder w) {
    if (r.path != "/metrics") return gw->Handle(std::move(r), std::move(w));
    http::Response m;
    if (r.method != "GET") {
      m.status = 405;
      m.headers.emplace_back("Allow", "GET");
      m.body = R"({"error":"use GET for /metrics"})";
    } else {
      m.content_type = "text/plain; version=0.0.4; charset=utf-8";
      m.body = registry->Render();
    }
    w(std::move(m));
  };
}

// One loop per HTTP I/O thread, shared by the server and the upstream client (a connection pool
// per loop): a forwarded request never changes threads (a hand-off between threads costs two
// wake-ups and context switches per request).
StatusOr<std::vector<std::shared_ptr<http::IoLoop>>> SharedLoops(const http::ServerOptions& so) {
  std::vector<std::shared_ptr<http::IoLoop>> loops;
  for (int i = 0; i < so.io_threads; ++i) {
    ASSIGN_OR_RETURN(std::shared_ptr<http::IoLoop> loop, http::IoLoop::Start());
    loops.push_back(std::move(loop));
  }
  return loops;
}

// Everything that may fail before the gateway starts, in one place: the topology, the decision
// log, the in-process node and the shared loops. Logs the failure; returns the exit code.
struct GatewayParts {
  std::unique_ptr<router::Router> router;
  size_t node_count = 0;
  std::unique_ptr<router::DecisionLog> log;
  std::unique_ptr<InferenceNode> node;
  std::vector<std::shared_ptr<http::IoLoop>> loops;
  gateway::UpstreamTls upstream_tls;
  std::unique_ptr<gateway::HubTopologySource> hub;  // with --hub
};

// The starting topology: the --topology file when given, else the hub's (or its cache's).
StatusOr<router::Topology> StartingTopology(const GatewayConfig& c, telemetry::Registry* registry,
                                            GatewayParts* p) {
  if (!c.hub_url.empty()) {
    gateway::HubSourceOptions ho;
    ho.url = c.hub_url;
    ho.token_file = c.hub_token_file;
    ho.ca_file = c.hub_ca_file;
    ho.cert_file = c.hub_cert_file;
    ho.key_file = c.hub_key_file;
    ho.cache_file = c.hub_cache;
    ho.wait = std::chrono::seconds(c.hub_wait_s);
    ho.backoff_max = std::chrono::milliseconds(c.hub_backoff_max_ms);
    ho.metrics = registry;
    ASSIGN_OR_RETURN(p->hub, gateway::HubTopologySource::Create(std::move(ho)));
  }
  if (c.topology_path.empty()) return p->hub->Initial();
  ASSIGN_OR_RETURN(router::Topology t, router::LoadTopology(c.topology_path));
  if (p->hub) p->hub->UseFile();
  return t;
}

int BuildParts(const GatewayConfig& c, const http::ServerOptions& so, telemetry::Registry* registry,
               GatewayParts* p) {
  auto topology = StartingTopology(c, registry, p);
  if (!topology.ok()) return PrintError(kCommand, topology.status());
  auto upstream_tls = gateway::MakeUpstreamTls(*topology, c.upstream);
  if (!upstream_tls.ok()) return PrintError(kCommand, upstream_tls.status());
  p->upstream_tls = std::move(upstream_tls).value();
  if (c.repo_dir.empty()) {
    for (const auto& n : topology->nodes)
      if (gateway::IsLocalUrl(n.url))
        LogWarning("node " + n.name +
                   " is local:// but there is no --model-repository: requests for it fall back");
  }
  if (!c.decision_log_path.empty()) {
    auto l = router::DecisionLog::Open(c.decision_log_path);
    if (!l.ok()) return PrintError(kCommand, l.status(), 1);
    p->log = std::move(l).value();
  }
  // Declared before the gateway so that it outlives it: the gateway stops taking its answers first.
  if (!c.repo_dir.empty()) {
    auto node = StartLocalNode(c);
    if (!node.ok()) {
      LogError(node.status().message());
      return 1;
    }
    p->node = std::move(node).value();
  }
  router::RouterOptions ro;
  ro.eject_after_failures = static_cast<int>(c.eject_after);
  ro.probe_interval = std::chrono::milliseconds(c.probe_ms);
  ro.explore_after = std::chrono::milliseconds(c.explore_after_ms);
  p->node_count = topology->nodes.size();
  p->router = std::make_unique<router::Router>(std::move(topology).value(), ro);
  auto loops = SharedLoops(so);
  if (!loops.ok()) {
    LogError(loops.status().message());
    return 1;
  }
  p->loops = std::move(loops).value();
  return 0;
}

}  // namespace

int Gateway(const std::vector<std::string>& args) {
  GatewayConfig c;
  http::ServerOptions so;
  if (std::optional<int> code = ParseGatewayArgs(args, &c, &so)) return *code;

  StopSignals signals;  // before any thread starts
  // One registry for the process: the gateway's metrics, the filters' and the process's own. It is
  // served at GET /metrics: on the admin listener with --filters (a tenant key must not read
  // other tenants' usage), else on the main port.
  telemetry::Registry registry;
  telemetry::RegisterProcessMetrics(registry);
  GatewayParts parts;
  if (int code = BuildParts(c, so, &registry, &parts); code != 0) return code;

  gateway::GatewayOptions go = GatewayOptionsFor(c, parts.loops, &registry, parts.node.get());
  go.upstream_tls = parts.upstream_tls.defaults;
  go.upstream_tls_by_url = parts.upstream_tls.by_url;
  gateway::Gateway gw(parts.router.get(), parts.log.get(), std::move(go));

  so.loops = parts.loops;
  filters::ChainOptions co;
  co.metrics = &registry;
  // The in-process node's codec limits (the defaults): the cache decodes no more generously.
  co.codec_limits = InferenceNodeOptions{}.v2.codec_limits;
  http::Handler handler = [g = &gw](http::Request&& r, http::Responder w) {
    g->Handle(std::move(r), std::move(w));
  };
  if (!c.filters.enabled()) handler = WithMetricsRoute(&gw, &registry);
  std::string what = "gateway over " + std::to_string(parts.node_count) + " nodes";
  if (parts.hub) {
    what += " (topology from the " + std::string(gateway::TopologyOriginName(parts.hub->stats().origin)) +
            ", following the hub " + c.hub_url + ")";
  }
  auto listener = StartListener(kCommand, what + ", ", so, std::move(handler), c.filters, co);
  if (!listener.ok()) {
    LogError(listener.status().message());
    return 1;
  }
  // Stopped before the gateway goes away (it applies each topology to it).
  if (parts.hub) parts.hub->Start([g = &gw](router::Topology t) { return g->SetTopology(std::move(t)); });
  InferenceNode* node = parts.node.get();
  WaitThenShutDown(signals, {[&] {
                               if (parts.hub) parts.hub->Stop();
                             },
                             [&] { (*listener)->Stop(); },
                             [node] {
                               if (node) node->Shutdown();
                             }});
  return 0;
}

}  // namespace continuum::cli
