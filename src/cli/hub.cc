// `continuum hub`: the fleet's control plane (fleet/hub/hub.h), and the operator's commands that
// talk to one: `continuum hub apply FILE`, `continuum hub plan FILE`, `continuum hub delete NAME`.
#include "fleet/hub/hub.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/server_flags.h"
#include "cli/serving.h"
#include "common/config_reader.h"
#include "common/log.h"
#include "fleet/store/store.h"
#include "http/client.h"
#include "signing/signing.h"
#include "telemetry/metrics.h"
#include "tls/client_context.h"

namespace continuum::cli {
namespace {

constexpr char kCommand[] = "hub";
constexpr char kUsage[] =
    "usage: continuum hub --key hub.key [--store sqlite:hub.db | --store postgresql://...] [flags]\n"
    "       continuum hub apply|plan FILE --hub URL [--token-file F]\n"
    "       continuum hub delete NAME --hub URL [--token-file F]\n\n"
    "Runs the fleet's hub: the inventory of nodes (their agents report to it), deployments of model\n"
    "packages placed by constraint, a signed desired-state document per node (signed with --key, an\n"
    "ECDSA P-256 key from `continuum generate-key-pair`, password from $COSIGN_PASSWORD), progressive\n"
    "rollouts with automatic rollback, the gateway's live topology (/api/v1/topology), Prometheus\n"
    "service discovery (/api/v1/sd), /metrics and the dashboard (/).\n"
    "`apply` sends a deployment file (JSON, fleet/README.md) to a hub; `plan` shows which nodes it would\n"
    "run on and why the others would not, changing nothing.";

StatusOr<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPrecondition("cannot read " + path);
  std::string out(static_cast<size_t>(max_bytes) + 1, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<int64_t>(out.size()) > max_bytes)
    return InvalidArgument(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  return out;
}

// A token file's first line.
StatusOr<std::string> ReadToken(const std::string& path) {
  if (path.empty()) return std::string();
  ASSIGN_OR_RETURN(std::string t, ReadSmallFile(path, 4096));
  t = t.substr(0, t.find_first_of("\r\n"));
  if (t.empty()) return InvalidArgument(path + " holds no token");
  return t;
}

// The operator's commands: one request to the hub, the answer printed.
int Client(const std::string& verb, const std::vector<std::string>& args) {
  std::string hub_url, token_file, ca_file;
  int64_t timeout_ms = 30000;
  Flags f;
  f.String("hub", &hub_url, "the hub's URL, e.g. http://127.0.0.1:7000 (required)");
  f.String("token-file", &token_file, "a file holding the operator token");
  f.String("ca-file", &ca_file, "PEM CA bundle for an https hub (default: the system store)");
  f.Int("timeout-ms", &timeout_ms, "how long to wait for the hub");
  std::vector<std::string> flag_args, positional;
  f.Split(args, {}, &flag_args, &positional);
  std::string cmd = std::string(kCommand) + " " + verb;
  if (auto code = f.ParseOrExplain(cmd, kUsage, flag_args)) return *code;
  if (positional.size() != 1 || hub_url.empty()) {
    f.Explain(cmd, kUsage, InvalidArgument(hub_url.empty() ? "give --hub URL" : "give one FILE or NAME"));
    return 2;
  }
  auto token = ReadToken(token_file);
  if (!token.ok()) return PrintError(cmd, token.status());
  http::ClientRequest req;
  if (verb == "delete") {
    req.method = "DELETE";
    req.target = "/api/v1/deployments/" + positional[0];
  } else {
    auto body = ReadSmallFile(positional[0], 1 << 20);
    if (!body.ok()) return PrintError(cmd, body.status());
    config::Reader r(positional[0] + ": ");
    config::Object o;
    if (Status st = r.Parse(*body, &o); !st.ok()) return PrintError(cmd, st);
    std::string name;
    if (auto n = config::Find(o, "name")) {
      auto s = r.String(*n, "name", true);
      if (!s.ok()) return PrintError(cmd, s.status());
      name = *s;
    }
    if (verb == "apply" && name.empty())
      return PrintError(cmd, InvalidArgument(positional[0] + ": name: required"));
    req.method = verb == "apply" ? "PUT" : "POST";
    req.target = verb == "apply" ? "/api/v1/deployments/" + name : "/api/v1/plan";
    req.body = std::move(*body);
    req.headers.emplace_back("Content-Type", "application/json");
  }
  if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
  http::ClientOptions co;
  if (!ca_file.empty()) {
    tls::ClientTlsOptions t;
    t.ca_file = ca_file;
    auto ctx = tls::ClientContext::Create(t);
    if (!ctx.ok()) return PrintError(cmd, ctx.status(), 1);
    co.tls = std::move(ctx).value();
  }
  http::Client client(std::move(co));
  auto r = http::SendAndWait(client, hub_url, std::move(req),
                             std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms));
  if (!r.ok()) return PrintError(cmd, r.status(), 1);
  std::printf("%s\n", r->body.c_str());
  return r->status == 200 ? 0 : 1;
}

struct HubConfig {
  ServerFlags server{"0.0.0.0", 7000};
  std::string store = "sqlite:hub.db", key_path, admin_token_file, agent_token_file, read_token_file;
  fleet::HubOptions options;
};

int RunHub(const std::vector<std::string>& args) {
  HubConfig c;
  Flags f;
  c.server.Register(f);
  f.String("store", &c.store,
           "where the hub keeps its state: sqlite:PATH or postgresql://... (several replicas)");
  f.String("key", &c.key_path,
           "the desired-state signing key (cosign.key form, password from $COSIGN_PASSWORD) (required)");
  f.String("replica-id", &c.options.replica_id,
           "this replica's name, unique among the replicas sharing a store");
  f.String("advertise-url", &c.options.advertise_url,
           "this hub's URL as Prometheus reaches it (listed in /api/v1/sd)");
  f.String("admin-token-file", &c.admin_token_file,
           "operators' bearer token (writes); default: none required");
  f.String("agent-token-file", &c.agent_token_file, "agents' bearer token; default: none required");
  f.Bool("agent-cert-identity", &c.options.agent_cert_identity,
         "agents prove their node name with a client certificate (CN = the node's name), verified against "
         "--tls-client-ca");
  f.String("read-token-file", &c.read_token_file,
           "readers' bearer token (gateways, Prometheus, the page); default: open");
  f.Int("max-wait-s", &c.options.max_wait_s, "longest long poll");
  f.Int("tick-ms", &c.options.tick_ms, "how often rollouts are driven");
  f.Int("lease-ttl-ms", &c.options.lease_ttl_ms, "the rollout driver's lease among replicas");
  f.Int("stale-after-ms", &c.options.stale_after_ms, "a node not heard from this long is stale");
  f.Int("desired-state-ttl-ms", &c.options.desired_state_ttl_ms, "lifetime of each desired-state document");
  f.Int("max-nodes", &c.options.max_nodes, "most nodes");
  f.Int("max-deployments", &c.options.max_deployments, "most deployments");
  f.Int("max-models-per-node", &c.options.max_models_per_node, "most models in one report");
  f.Int("max-report-bytes", &c.options.max_report_bytes, "largest report body");
  f.Int("max-waiters", &c.options.max_waiters, "most long polls held at once");
  f.Bool("registry-insecure", &c.options.registry_insecure,
         "plain http to a loopback registry (tag resolution)");
  f.String("registry-ca-file", &c.options.registry_ca_file, "PEM CA bundle for the registry");
  if (auto code = f.ParseOrExplain(kCommand, kUsage, args)) return *code;
  if (c.key_path.empty())
    return PrintError(kCommand, InvalidArgument("--key is required: the hub signs every desired state"));
  if (c.options.max_wait_s < 1 || c.options.tick_ms < 10 || c.options.lease_ttl_ms < 2 * c.options.tick_ms ||
      c.options.stale_after_ms < 1000 || c.options.desired_state_ttl_ms < 60000 || c.options.max_nodes < 1 ||
      c.options.max_waiters < 1)
    return PrintError(kCommand,
                      InvalidArgument("--max-wait-s >= 1, --tick-ms >= 10, --lease-ttl-ms >= 2 ticks, "
                                      "--stale-after-ms >= 1000, --desired-state-ttl-ms >= 60000"));
  auto so = c.server.Options();
  if (!so.ok()) return PrintError(kCommand, so.status());
  if (c.options.agent_cert_identity && (!so->tls || so->tls->options().client_ca_file.empty()))
    return PrintError(kCommand,
                      InvalidArgument("--agent-cert-identity needs --tls-cert and --tls-client-ca"));
  auto pem = signing::ReadKeyFile(c.key_path, 64 << 10);
  if (!pem.ok()) return PrintError(kCommand, pem.status(), 1);
  const char* password = std::getenv("COSIGN_PASSWORD");
  auto key = signing::PrivateKey::FromPem(*pem, password == nullptr ? "" : password);
  if (!key.ok()) return PrintError(kCommand, key.status(), 1);
  for (auto [path, out] : {std::pair{&c.admin_token_file, &c.options.admin_token},
                           std::pair{&c.agent_token_file, &c.options.agent_token},
                           std::pair{&c.read_token_file, &c.options.read_token}}) {
    auto t = ReadToken(*path);
    if (!t.ok()) return PrintError(kCommand, t.status());
    *out = *t;
  }
  StopSignals signals;  // before any thread starts
  auto store = fleet::OpenStore(c.store);
  if (!store.ok()) return PrintError(kCommand, store.status(), 1);
  std::string backend(store->get()->backend());
  auto hub = fleet::Hub::Create(std::move(store).value(), std::move(key).value(), c.options);
  if (!hub.ok()) return PrintError(kCommand, hub.status(), 1);
  fleet::Hub* h = hub->get();
  h->Start();
  FilterFlags no_filters{0, ""};
  auto listener = StartListener(
      kCommand, "hub (" + backend + " store), ", *so,
      [h](http::Request&& r, http::Responder w) { h->Handle(std::move(r), std::move(w)); }, no_filters, {});
  if (!listener.ok()) {
    LogError(listener.status().message());
    return 1;
  }
  WaitThenShutDown(signals, {[h] { h->Stop(); }, [&] { (*listener)->Stop(); }});
  return 0;
}

}  // namespace

int Hub(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "apply" || args[0] == "plan" || args[0] == "delete"))
    return Client(args[0], std::vector<std::string>(args.begin() + 1, args.end()));
  return RunHub(args);
}

}  // namespace continuum::cli
