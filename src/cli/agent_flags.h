// The fleet agent's flags, shared by `continuum agent` (the agent beside a serve) and
// `continuum serve --agent-hub ...` (the agent inside serve's process, its flags prefixed "agent-").
#pragma once

#include <string>
#include <vector>

#include "cli/flags.h"
#include "common/status.h"
#include "fleet/agent/agent.h"

namespace continuum::cli {

struct AgentFlags {
  std::string hub, name, hub_key, key, layout, repository, state_dir, serve_url, address;
  std::string token_file, ca_file, properties_file, tier, region, jurisdiction, hardware;
  std::vector<std::string> properties;
  fleet::AgentOptions o;
};

// Registers the agent's flags, each named PREFIX + its name ("hub", "name", ...). In serve
// (`in_serve`), without --model-repository, --serve-url and --serve-poll-secs: serve's own
// repository, API and poll interval are the agent's.
void RegisterAgentFlags(Flags& f, AgentFlags& a, const std::string& prefix, bool in_serve);

// Checks the flags (a.repository and a.serve_url already set) and completes a.o: the hub client,
// the keys, the files under --state-dir, the hardware, and the properties reported (detected ones
// overridden by the operator's). kInvalidArgument names the flag (with its prefix).
Status PrepareAgent(AgentFlags& a, const std::string& prefix);

}  // namespace continuum::cli
