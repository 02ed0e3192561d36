// The fleet agent's flags (cli/agent_flags.h): `continuum agent`'s own, and serve's --agent-* for
// the agent inside `continuum serve`.
#include "cli/agent_flags.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/json_writer.h"
#include "fleet/policy/properties.h"
#include "packages/variants.h"
#include "runtime/runtime.h"

namespace continuum::cli {
namespace {

namespace fs = std::filesystem;

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
StatusOr<fleet::Properties> OperatorProperties(const AgentFlags& a, const std::string& prefix) {
  fleet::Properties p;
  if (!a.properties_file.empty()) {
    ASSIGN_OR_RETURN(std::string json, ReadSmallFile(a.properties_file, 1 << 20));
    auto parsed = fleet::ParsePropertiesJson(json);
    if (!parsed.ok()) return parsed.status().WithContext("--" + prefix + "properties " + a.properties_file);
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
    if (!kv.ok()) return kv.status().WithContext("--" + prefix + "property " + arg);
    p[kv->first] = kv->second;
  }
  return p;
}

}  // namespace

void RegisterAgentFlags(Flags& f, AgentFlags& a, const std::string& p, bool in_serve) {
  fleet::AgentOptions& o = a.o;
  f.String(p + "hub", &a.hub, "the hub's URL, http(s)://host:port (required)");
  f.String(p + "name", &a.name, "this node's name, [A-Za-z0-9][A-Za-z0-9._-]{0,62} (required)");
  f.String(p + "hub-key", &a.hub_key, "the hub's desired-state public key, PEM (required)");
  f.String(p + "key", &a.key, "cosign public key every package must be signed by (required)");
  if (!in_serve)
    f.String(p + "model-repository", &a.repository, "the model repository serve polls (required)");
  f.String(p + "state-dir", &a.state_dir, "where agent-state.json and the default layout live (required)");
  f.String(p + "layout", &a.layout, "the OCI image layout packages are pulled into (default STATE/layout)");
  if (!in_serve)
    f.String(p + "serve-url", &a.serve_url,
             "the local serve, for readiness and /metrics (e.g. http://127.0.0.1:8000)");
  f.String(p + "address", &a.address,
           "where the gateway reaches this node's serve (default: --serve-url; in serve, its listener)");
  f.List(p + "property", &a.properties, "NAME=VALUE set by the operator (repeatable; version:1.2, list:a,b)");
  f.String(p + "properties", &a.properties_file, "a JSON array of properties set by the operator");
  f.String(p + "tier", &a.tier, "shorthand for --property tier=VALUE");
  f.String(p + "region", &a.region, "shorthand for --property region=VALUE");
  f.String(p + "jurisdiction", &a.jurisdiction, "shorthand for the list property jurisdiction (a,b)");
  f.String(p + "hardware", &a.hardware,
           "declare the hardware instead of detecting it (as `continuum install`)");
  f.String(p + "token-file", &a.token_file, "file with the bearer token the hub expects from agents");
  f.String(p + "ca-file", &a.ca_file, "https hub: PEM CA bundle (default: the system trust store)");
  f.String(p + "client-cert", &a.o.hub.cert_file,
           "https hub: this node's client certificate (PEM; CN = the node's name for a hub with "
           "--agent-cert-identity)");
  f.String(p + "client-key", &a.o.hub.key_file, "the client certificate's private key (PEM)");
  f.Bool(p + "registry-insecure", &o.registry_insecure,
         "plain http to a loopback registry (as pull --insecure)");
  f.String(p + "registry-ca-file", &o.registry_ca_file, "PEM CA bundle for the registry");
  f.String(p + "docker-config", &o.docker_config, "Docker config file with registry credentials");
  f.Int(p + "registry-timeout-ms", &o.registry_timeout_ms, "deadline of each registry request");
  f.Int(p + "registry-retries", &o.registry_retries,
        "retries of a registry 5xx answer or dropped connection");
  f.Int(p + "report-interval-ms", &o.report_interval_ms, "how often serve is checked and a change reported");
  f.Int(p + "heartbeat-secs", &o.heartbeat_secs, "a report at least this often");
  f.Int(p + "wait-s", &o.wait_s, "the desired-state long poll's wait");
  f.Int(p + "min-poll-interval-ms", &o.min_poll_interval_ms, "least time between two polls' starts");
  f.Int(p + "request-timeout-ms", &o.hub.request_timeout_ms, "deadline of a report (a poll adds its wait)");
  f.Int(p + "max-response-bytes", &o.hub.max_response_bytes, "largest answer from the hub");
  f.Int(p + "backoff-initial-ms", &o.backoff_initial_ms, "hub unreachable: first retry after this, doubled");
  f.Int(p + "backoff-max-ms", &o.backoff_max_ms, "hub unreachable: longest wait between retries");
  f.Int(p + "retry-failed-ms", &o.retry_failed_ms,
        "a target that failed is tried again after this (doubled)");
  f.Int(p + "expiry-grace-ms", &o.expiry_grace_ms,
        "the applied desired state is reported expired this long after it expires");
  if (!in_serve)
    f.Int(p + "serve-poll-secs", &o.serve_poll_secs,
          "serve's --repository-poll-secs: an install counts ready after it");
  f.Int(p + "serve-timeout-ms", &o.serve_timeout_ms, "deadline of one call to serve");
  f.Int(p + "max-scrape-bytes", &o.scrape.max_bytes, "largest /metrics answer read");
  f.Int(p + "max-targets", &o.limits.max_targets, "most targets in a desired state");
  f.Int(p + "max-envelope-bytes", &o.limits.max_envelope_bytes, "largest desired-state envelope");
  f.Int(p + "max-state-bytes", &o.max_state_bytes, "largest agent-state.json read");
}

Status PrepareAgent(AgentFlags& a, const std::string& p) {
  fleet::AgentOptions& o = a.o;
  if (a.hub.empty() || a.name.empty() || a.hub_key.empty() || a.key.empty() || a.repository.empty() ||
      a.state_dir.empty())
    return InvalidArgument("give --" + p + "hub, --" + p + "name, --" + p + "hub-key, --" + p +
                           "key, --model-repository and --" + p + "state-dir");
  if (!fleet::ValidNodeName(a.name))
    return InvalidArgument("--" + p + "name " + Quoted(a.name) + " is not a node name");
  if (o.report_interval_ms < 100 || o.heartbeat_secs < 1 || o.wait_s < 0 || o.backoff_initial_ms < 1 ||
      o.backoff_max_ms < o.backoff_initial_ms || o.retry_failed_ms < 1 || o.min_poll_interval_ms < 0 ||
      o.serve_poll_secs < 0 || o.serve_timeout_ms < 1 || o.hub.request_timeout_ms < 1)
    return InvalidArgument("a timing flag is out of range");
  o.hub.hub_url = a.hub;
  o.hub.node = a.name;
  o.hub.ca_file = a.ca_file;
  if (o.hub.cert_file.empty() != o.hub.key_file.empty())
    return InvalidArgument("--" + p + "client-cert and --" + p + "client-key go together");
  if (!a.token_file.empty()) {
    ASSIGN_OR_RETURN(std::string token, ReadSmallFile(a.token_file, 64 << 10));
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    o.hub.token = std::move(token);
  }
  std::error_code ec;
  fs::create_directories(a.state_dir, ec);
  if (ec) return InvalidArgument("--" + p + "state-dir " + a.state_dir + ": " + ec.message());
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
  ASSIGN_OR_RETURN(fleet::Properties operator_set, OperatorProperties(a, p));
  fleet::Properties props = fleet::MergeProperties(DetectedProperties(o.hardware), operator_set);
  o.properties_json.clear();
  JsonWriter w(&o.properties_json);
  fleet::WriteProperties(w, props);
  return Status::Ok();
}

}  // namespace continuum::cli
