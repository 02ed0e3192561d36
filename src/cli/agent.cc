// `continuum agent --hub URL --name NODE --hub-key hub.pub --key cosign.pub --model-repository REPO
// --state-dir DIR`: the fleet agent beside a `continuum serve` (fleet/agent/agent.h).
#include "fleet/agent/agent.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/serving.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "fleet/policy/properties.h"
#include "packages/variants.h"
#include "runtime/runtime.h"

namespace continuum::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    "usage: continuum agent --hub URL --name NODE --hub-key hub.pub --key cosign.pub\n"
    "                       --model-repository REPO --state-dir DIR [--serve-url URL] [flags]\n\n"
    "Runs beside `continuum serve --model-control-mode poll` on the same model repository: registers\n"
    "NODE with the hub and reports its properties, health and per-model metrics; long-polls its\n"
    "desired state, checks the hub's signature (--hub-key), and makes the repository match it:\n"
    "pulls each package by digest into --layout, checks its cosign signature (--key), installs it,\n"
    "and removes the models it installed that are no longer wanted. Nothing else in REPO is\n"
    "touched. Prints \"continuum agent: ready\" once the hub accepted its first report; stops on\n"
    "SIGINT or SIGTERM and prints the control-plane bytes it exchanged. Exit status 2: usage,\n"
    "1: it could not start.";

struct AgentFlags {
  std::string hub, name, hub_key, key, layout, repository, state_dir, serve_url, address;
  std::string token_file, ca_file, properties_file, tier, region, jurisdiction, hardware;
  std::vector<std::string> properties;
  fleet::AgentOptions o;
};

void AddFlags(Flags& f, AgentFlags& a) {
  fleet::AgentOptions& o = a.o;
  f.String("hub", &a.hub, "the hub's URL, http(s)://host:port (required)");
  f.String("name", &a.name, "this node's name, [A-Za-z0-9][A-Za-z0-9._-]{0,62} (required)");
  f.String("hub-key", &a.hub_key, "the hub's desired-state public key, PEM (required)");
  f.String("key", &a.key, "cosign public key every package must be signed by (required)");
  f.String("model-repository", &a.repository, "the model repository serve polls (required)");
  f.String("state-dir", &a.state_dir, "where agent-state.json and the default layout live (required)");
  f.String("layout", &a.layout, "the OCI image layout packages are pulled into (default STATE/layout)");
  f.String("serve-url", &a.serve_url,
           "the local serve, for readiness and /metrics (e.g. http://127.0.0.1:8000)");
  f.String("address", &a.address, "where the gateway reaches this node's serve (default --serve-url)");
  f.List("property", &a.properties, "NAME=VALUE set by the operator (repeatable; version:1.2, list:a,b)");
  f.String("properties", &a.properties_file, "a JSON array of properties set by the operator");
  f.String("tier", &a.tier, "shorthand for --property tier=VALUE");
  f.String("region", &a.region, "shorthand for --property region=VALUE");
  f.String("jurisdiction", &a.jurisdiction, "shorthand for the list property jurisdiction (a,b)");
  f.String("hardware", &a.hardware, "declare the hardware instead of detecting it (as `continuum install`)");
  f.String("token-file", &a.token_file, "file with the bearer token the hub expects from agents");
  f.String("ca-file", &a.ca_file, "https hub: PEM CA bundle (default: the system trust store)");
  f.Bool("registry-insecure", &o.registry_insecure, "plain http to a loopback registry (as pull --insecure)");
  f.String("registry-ca-file", &o.registry_ca_file, "PEM CA bundle for the registry");
  f.String("docker-config", &o.docker_config, "Docker config file with registry credentials");
  f.Int("registry-timeout-ms", &o.registry_timeout_ms, "deadline of each registry request");
  f.Int("registry-retries", &o.registry_retries, "retries of a registry 5xx answer or dropped connection");
  f.Int("report-interval-ms", &o.report_interval_ms, "how often serve is checked and a change reported");
  f.Int("heartbeat-secs", &o.heartbeat_secs, "a report at least this often");
  f.Int("wait-s", &o.wait_s, "the desired-state long poll's wait");
  f.Int("min-poll-interval-ms", &o.min_poll_interval_ms, "least time between two polls' starts");
  f.Int("request-timeout-ms", &o.hub.request_timeout_ms, "deadline of a report (a poll adds its wait)");
  f.Int("max-response-bytes", &o.hub.max_response_bytes, "largest answer from the hub");
  f.Int("backoff-initial-ms", &o.backoff_initial_ms, "hub unreachable: first retry after this, doubled");
  f.Int("backoff-max-ms", &o.backoff_max_ms, "hub unreachable: longest wait between retries");
  f.Int("retry-failed-ms", &o.retry_failed_ms, "a target that failed is tried again after this (doubled)");
  f.Int("expiry-grace-ms", &o.expiry_grace_ms,
        "the applied desired state is reported expired this long after it expires");
  f.Int("serve-poll-secs", &o.serve_poll_secs,
        "serve's --repository-poll-secs: an install counts ready after it");
  f.Int("serve-timeout-ms", &o.serve_timeout_ms, "deadline of one call to serve");
  f.Int("max-scrape-bytes", &o.scrape.max_bytes, "largest /metrics answer read");
  f.Int("max-targets", &o.limits.max_targets, "most targets in a desired state");
  f.Int("max-envelope-bytes", &o.limits.max_envelope_bytes, "largest desired-state envelope");
  f.Int("max-state-bytes", &o.max_state_bytes, "largest agent-state.json read");
}

StatusOr<std::string> ReadSmallFile(const std::string& path, int64_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return InvalidArgument("cannot read " + path + ": " + ec.message());
  if (static_cast<int64_t>(size) > max_bytes)
    return InvalidArgument(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::string s(size, '\0');
  if (!in.read(s.data(), static_cast<std::streamsize>(size))) return InvalidArgument("cannot read " + path);
  return s;
}

// What this node says about itself: arch, cpu_features, memory_gb, ort_version,
// execution_providers.
fleet::Properties DetectedProperties(const packages::Hardware& hw) {
  fleet::Properties p;
  if (!hw.cpu_architecture.empty()) p["arch"] = fleet::StringValue(hw.cpu_architecture);
  p["cpu_features"] = fleet::ListValue({hw.cpu_features.begin(), hw.cpu_features.end()});
  if (hw.memory_mb > 0) p["memory_gb"] = fleet::IntValue(hw.memory_mb / 1024);
  if (auto v = fleet::VersionValue(runtime::Engine::OrtVersion())) p["ort_version"] = *v;
  p["execution_providers"] = fleet::ListValue({hw.execution_providers.begin(), hw.execution_providers.end()});
  return p;
}

// The operator's properties: --properties FILE, then the shorthands, then each --property.
StatusOr<fleet::Properties> OperatorProperties(const AgentFlags& a) {
  fleet::Properties p;
  if (!a.properties_file.empty()) {
    ASSIGN_OR_RETURN(std::string json, ReadSmallFile(a.properties_file, 1 << 20));
    auto parsed = fleet::ParsePropertiesJson(json);
    if (!parsed.ok()) return parsed.status().WithContext("--properties " + a.properties_file);
    p = std::move(*parsed);
  }
  if (!a.tier.empty()) p["tier"] = fleet::StringValue(a.tier);
  if (!a.region.empty()) p["region"] = fleet::StringValue(a.region);
  if (!a.jurisdiction.empty()) {
    std::vector<std::string> items;
    for (size_t b = 0; b <= a.jurisdiction.size();) {
      size_t e = a.jurisdiction.find(',', b);
      if (e == std::string::npos) e = a.jurisdiction.size();
      if (e > b) items.push_back(a.jurisdiction.substr(b, e - b));
      b = e + 1;
    }
    p["jurisdiction"] = fleet::ListValue(std::move(items));
  }
  for (const std::string& arg : a.properties) {
    auto kv = fleet::ParsePropertyArg(arg);
    if (!kv.ok()) return kv.status().WithContext("--property " + arg);
    p[kv->first] = kv->second;
  }
  return p;
}

Status Prepare(AgentFlags& a) {
  fleet::AgentOptions& o = a.o;
  if (a.hub.empty() || a.name.empty() || a.hub_key.empty() || a.key.empty() || a.repository.empty() ||
      a.state_dir.empty())
    return InvalidArgument("give --hub, --name, --hub-key, --key, --model-repository and --state-dir");
  if (!fleet::ValidNodeName(a.name))
    return InvalidArgument("--name " + Quoted(a.name) + " is not a node name");
  if (o.report_interval_ms < 100 || o.heartbeat_secs < 1 || o.wait_s < 0 || o.backoff_initial_ms < 1 ||
      o.backoff_max_ms < o.backoff_initial_ms || o.retry_failed_ms < 1 || o.min_poll_interval_ms < 0 ||
      o.serve_poll_secs < 0 || o.serve_timeout_ms < 1 || o.hub.request_timeout_ms < 1)
    return InvalidArgument("a timing flag is out of range");
  o.hub.hub_url = a.hub;
  o.hub.node = a.name;
  o.hub.ca_file = a.ca_file;
  if (!a.token_file.empty()) {
    ASSIGN_OR_RETURN(std::string token, ReadSmallFile(a.token_file, 64 << 10));
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    o.hub.token = std::move(token);
  }
  std::error_code ec;
  fs::create_directories(a.state_dir, ec);
  if (ec) return InvalidArgument("--state-dir " + a.state_dir + ": " + ec.message());
  o.hub_key = a.hub_key;
  o.package_key = a.key;
  o.repository = a.repository;
  o.state_file = fs::path(a.state_dir) / "agent-state.json";
  o.layout = a.layout.empty() ? fs::path(a.state_dir) / "layout" : fs::path(a.layout);
  o.registry_state_file = (fs::path(a.state_dir) / "registry-blobs.tsv").string();
  o.serve_url = a.serve_url;
  o.address = a.address.empty() ? a.serve_url : a.address;
  auto hw = a.hardware.empty() ? packages::DetectHardware() : packages::ParseHardware(a.hardware);
  if (!hw.ok()) return hw.status().WithContext("hardware");
  o.hardware = *hw;
  ASSIGN_OR_RETURN(fleet::Properties operator_set, OperatorProperties(a));
  fleet::Properties props = fleet::MergeProperties(DetectedProperties(o.hardware), operator_set);
  o.properties_json.clear();
  JsonWriter w(&o.properties_json);
  fleet::WriteProperties(w, props);
  return Status::Ok();
}

}  // namespace

int Agent(const std::vector<std::string>& args) {
  AgentFlags a;
  Flags f;
  AddFlags(f, a);
  if (auto code = f.ParseOrExplain("agent", kUsage, args)) return *code;
  if (Status st = Prepare(a); !st.ok()) {
    f.Explain("agent", kUsage, st);
    return 2;
  }
  StopSignals signals;  // before any thread starts
  fleet::Agent agent(a.o);
  std::atomic<bool> failed{false};
  std::thread waiter([&signals, &agent, &failed] {
    const int sig = signals.Wait();
    if (!failed)
      LogInfo(std::string("agent: received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
    agent.Stop();
  });
  Status st = agent.Run();
  if (!st.ok()) {
    failed = true;
    ::kill(::getpid(), SIGTERM);  // wakes the waiter: the signal is blocked, so it is only queued
    waiter.join();
    return PrintError("agent", st, 1);
  }
  if (waiter.joinable()) waiter.join();
  std::printf("continuum agent: control-plane bytes sent %llu received %llu\n",
              static_cast<unsigned long long>(agent.control_bytes_sent()),
              static_cast<unsigned long long>(agent.control_bytes_received()));
  std::fflush(stdout);
  return 0;
}

}  // namespace continuum::cli
