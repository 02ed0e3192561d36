// What the agent changes in the model repository for a desired state: the diff between the
// document's targets and what is installed, and nothing else. Pure (no I/O), so every case is a
// unit test.
//
//   install  a target whose model is not installed at the target's digest (per the install
//            record in the repository, REPO/<model>/.continuum-install.json: what is really
//            there, whatever the agent's state file says);
//   keep     a target installed at its digest: not pulled, not installed again (a restart or a
//            reconnect after an outage changes nothing that did not change);
//   remove   a model the agent installed earlier (AgentState.installed) that is no longer a
//            target. Models the agent did not install are never touched.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "fleet/state/desired_state.h"

namespace continuum::fleet {

struct ReconcilePlan {
  std::vector<Target> install;
  std::vector<Target> keep;
  std::vector<std::string> remove;  // model names
  bool empty() const { return install.empty() && remove.empty(); }
};

// `repository_digests`: model -> the digest of the package installed as that model now (only
// models installed from packages). Targets in the plan keep the document's order (by model).
ReconcilePlan PlanReconcile(const std::vector<Target>& targets,
                            const std::map<std::string, std::string>& repository_digests,
                            const std::vector<InstalledModel>& agent_installed);

// The agent's installed list after the plan ran: `previous` without the removed models, with
// each installed target recorded (digest, package, deployment; since_ms 0 when the digest
// changed, kept when it did not), sorted by model.
std::vector<InstalledModel> RecordInstalled(const std::vector<InstalledModel>& previous,
                                            const Target& installed);
std::vector<InstalledModel> RecordRemoved(const std::vector<InstalledModel>& previous,
                                          const std::string& model);

}  // namespace continuum::fleet
