// `continuum gateway`: the front door that routes each inference request to a node.
#include "gateway/gateway.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/server_flags.h"
#include "common/log.h"
#include "filters/filters.h"
#include "gateway/dispatcher.h"
#include "http/io_loop.h"
#include "http/server.h"
#include "node/inference_node.h"
#include "router/decision_log.h"
#include "router/router.h"
#include "telemetry/metrics.h"

namespace continuum::cli {

int Gateway(const std::vector<std::string>& args) {
  std::string topology_path, decision_log_path, repo_dir, catalog_dir;
  ServerFlags server_flags("0.0.0.0", 8080);
  int64_t request_timeout_ms = 30000, probe_ms = 1000, eject_after = 3;
  int64_t explore_after_ms = 10000;
  int64_t intra_op = 0;
  bool verbose = false, help = false;
  std::string filters_path, admin_address = "127.0.0.1";
  int64_t admin_port = 8081;
  double attempt_timeout_factor = 4, attempt_budget_share = 0.5;
  bool await_hedge_losers = true;

  Flags f;
  f.String("topology", &topology_path, "topology file (JSON, see src/router/README.md)");
  server_flags.Register(f);
  f.String("decision-log", &decision_log_path,
           "append one hash-chained JSON record per request to this file");
  f.Int("request-timeout-ms", &request_timeout_ms,
        "deadline of a request without a latency target, fallbacks included");
  f.Double("attempt-timeout-factor", &attempt_timeout_factor,
           "each candidate but the last waits at most this x its predicted p95 before the next is "
           "tried (0: off)");
  f.Double("attempt-budget-share", &attempt_budget_share,
           "and at least this share of the request's deadline (0..1), so a straggler is still waited for");
  f.Bool("await-hedge-losers", &await_hedge_losers,
         "keep the losing copy of a hedge race counted on its node until its answer (dropped) arrives; "
         "false: cancel it at once (an exploration copy is awaited either way)");
  f.Int("probe-interval-ms", &probe_ms, "how often ejected nodes are probed with GET /v2/health/ready");
  f.Int("eject-after-failures", &eject_after, "consecutive failures that eject a node");
  f.Int("explore-after-ms", &explore_after_ms,
        "a node whose bandwidth estimate is this old, and whose rtt has improved since, gets a copy of a "
        "large request from the hedge budget, so a link that got faster is found (0: never)");
  f.String("model-repository", &repo_dir,
           "serve the topology's local:// nodes in-process from this model repository");
  f.String("catalog", &catalog_dir, "task catalog of the in-process node (with --model-repository)");
  f.Int("intra-op-threads", &intra_op, "in-process node: ONNX Runtime thread pool size (0: one per core)");
  f.String("filters", &filters_path, "AI-gateway filter chain config (JSON, see src/filters/README.md)");
  f.Int("admin-port", &admin_port,
        "with --filters: admin API port (tenants, keys, /metrics; 0: pick a free one)");
  f.String("admin-address", &admin_address, "with --filters: admin API address (keep it private)");
  f.Bool("log-verbose", &verbose, "log debug messages");
  f.Bool("help", &help, "show this help");
  if (Status st = f.Parse(args); !st.ok() || help) {
    if (!st.ok()) std::fprintf(stderr, "continuum gateway: %s\n\n", st.message().c_str());
    std::fprintf(stderr, "usage: continuum gateway --topology FILE [flags]\n\n%s", f.Usage().c_str());
    return help ? 0 : 2;
  }
  if (verbose) SetLogLevel(LogLevel::kDebug);
  if (topology_path.empty()) {
    std::fprintf(stderr, "continuum gateway: --topology is required\n");
    return 2;
  }
  if (!catalog_dir.empty() && repo_dir.empty()) {
    std::fprintf(stderr, "continuum gateway: --catalog needs --model-repository\n");
    return 2;
  }
  auto server_options = server_flags.Options();
  if (!server_options.ok()) {
    std::fprintf(stderr, "continuum gateway: %s\n", server_options.status().message().c_str());
    return 2;
  }
  http::ServerOptions so = *server_options;
  if (request_timeout_ms < 1 || probe_ms < 1 || eject_after < 1 || explore_after_ms < 0 || intra_op < 0 ||
      attempt_timeout_factor < 0 || attempt_budget_share < 0 || attempt_budget_share > 1) {
    std::fprintf(stderr, "continuum gateway: a numeric flag is out of range (see --help)\n");
    return 2;
  }
  auto topology = router::LoadTopology(topology_path);
  if (!topology.ok()) {
    std::fprintf(stderr, "continuum gateway: %s\n", topology.status().message().c_str());
    return 2;
  }
  if (repo_dir.empty()) {
    for (const auto& n : topology->nodes)
      if (gateway::IsLocalUrl(n.url))
        LogWarning("node " + n.name +
                   " is local:// but there is no --model-repository: requests for it fall back");
  }
  std::unique_ptr<router::DecisionLog> log;
  if (!decision_log_path.empty()) {
    auto l = router::DecisionLog::Open(decision_log_path);
    if (!l.ok()) {
      std::fprintf(stderr, "continuum gateway: %s\n", l.status().message().c_str());
      return 1;
    }
    log = std::move(l).value();
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // The in-process node for local:// targets, loaded before the gateway listens. Declared before
  // the gateway so that it outlives it: the gateway stops taking its answers first.
  std::unique_ptr<InferenceNode> node;
  if (!repo_dir.empty()) {
    InferenceNodeOptions no;
    no.engine.intra_op_threads = static_cast<int>(intra_op);
    no.engine.own_malloc = true;
    no.repository.root = repo_dir;
    no.v2.server_version = CONTINUUM_VERSION;
    no.catalog_dir = catalog_dir;
    auto n = InferenceNode::Create(std::move(no));
    if (!n.ok()) {
      LogError(n.status().message());
      return 1;
    }
    node = std::move(n).value();
    if (Status st = node->Start(); !st.ok()) {
      LogError(st.message());
      return 1;
    }
    LogInfo(node->Ready() ? "in-process node ready for local:// nodes"
                          : "in-process node started, but some models failed to load");
  }

  router::RouterOptions ro;
  ro.eject_after_failures = static_cast<int>(eject_after);
  ro.probe_interval = std::chrono::milliseconds(probe_ms);
  ro.explore_after = std::chrono::milliseconds(explore_after_ms);
  const size_t node_count = topology->nodes.size();
  router::Router router(std::move(topology).value(), ro);

  // With one HTTP thread, the server and the upstream client share one loop: a forwarded request
  // never changes threads (two loops cost two wake-ups and context switches per request).
  std::shared_ptr<http::IoLoop> loop;
  if (so.io_threads == 1) {
    auto l = http::IoLoop::Start();
    if (!l.ok()) {
      LogError(l.status().message());
      return 1;
    }
    loop = std::move(l).value();
  }

  // One registry for the process: the gateway's metrics, the filters' and the process's own. It is
  // served at GET /metrics: on the admin listener with --filters (a tenant key must not read
  // other tenants' usage), else on the main port.
  telemetry::Registry registry;
  telemetry::RegisterProcessMetrics(registry);
  gateway::GatewayOptions go;
  go.loop = loop;
  go.metrics = &registry;
  go.request_timeout = std::chrono::milliseconds(request_timeout_ms);
  go.attempt_timeout_factor = attempt_timeout_factor;
  go.attempt_budget_share = attempt_budget_share;
  go.await_hedge_losers = await_hedge_losers;
  go.probe_period = std::chrono::milliseconds(std::min<int64_t>(probe_ms, 250));
  if (node) {
    InferenceNode* n = node.get();
    go.local_handler = [n](http::Request&& r, http::Responder w) { n->Handle(std::move(r), std::move(w)); };
  }
  gateway::Gateway gw(&router, log.get(), go);

  so.loop = loop;
  http::Handler handler = [&gw](http::Request&& r, http::Responder w) {
    gw.Handle(std::move(r), std::move(w));
  };
  std::unique_ptr<filters::Frontend> frontend;  // outlives the server below
  if (!filters_path.empty()) {
    http::ServerOptions ao;
    ao.address = admin_address;
    ao.port = static_cast<uint16_t>(admin_port);
    filters::ChainOptions co;
    co.metrics = &registry;
    // The in-process node's codec limits (the defaults): the cache decodes no more generously.
    co.codec_limits = InferenceNodeOptions{}.v2.codec_limits;
    auto fe = filters::StartFrontend(filters_path, std::move(handler), co, ao);
    if (!fe.ok()) {
      LogError(fe.status().message());
      return 1;
    }
    frontend = std::move(fe).value();
    handler = frontend->handler;
  } else {
    handler = [&gw, &registry](http::Request&& r, http::Responder w) {
      if (r.path == "/metrics") {
        http::Response m;
        if (r.method != "GET") {
          m.status = 405;
          m.headers.emplace_back("Allow", "GET");
          m.body = R"({"error":"use GET for /metrics"})";
        } else {
          m.content_type = "text/plain; version=0.0.4; charset=utf-8";
          m.body = registry.Render();
        }
        return w(std::move(m));
      }
      gw.Handle(std::move(r), std::move(w));
    };
  }
  auto server = http::Server::Start(so, std::move(handler));
  if (!server.ok()) {
    LogError("cannot listen on " + so.address + ":" + std::to_string(so.port) + ": " +
             server.status().message());
    return 1;
  }
  LogInfo("gateway over " + std::to_string(node_count) + " nodes, listening on http://" + so.address + ":" +
          std::to_string((*server)->port()));
  std::fprintf(stdout, "continuum gateway: listening on port %u\n", (*server)->port());
  if (frontend && frontend->admin) {
    std::fprintf(stdout, "continuum gateway: admin listening on port %u\n", frontend->admin->port());
    // Where the token is, never the token itself.
    if (!frontend->admin_token_file.empty()) {
      std::fprintf(stdout, "continuum gateway: admin token in %s\n", frontend->admin_token_file.c_str());
    }
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogInfo(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
  (*server)->Stop();
  if (node) node->Shutdown();
  LogInfo("stopped");
  return 0;
}

}  // namespace continuum::cli
