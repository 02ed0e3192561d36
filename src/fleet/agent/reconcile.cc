// The reconcile diff (reconcile.h).
#include "fleet/agent/reconcile.h"

#include <algorithm>
#include <set>

namespace continuum::fleet {

ReconcilePlan PlanReconcile(const std::vector<Target>& targets,
                            const std::map<std::string, std::string>& repository_digests,
                            const std::vector<InstalledModel>& agent_installed) {
  ReconcilePlan plan;
  std::set<std::string> wanted;
  for (const Target& t : targets) {
    wanted.insert(t.model);
    auto it = repository_digests.find(t.model);
    if (it != repository_digests.end() && it->second == t.digest) {
      plan.keep.push_back(t);
    } else {
      plan.install.push_back(t);
    }
  }
  for (const InstalledModel& m : agent_installed)
    if (!wanted.contains(m.model)) plan.remove.push_back(m.model);
  std::sort(plan.remove.begin(), plan.remove.end());
  plan.remove.erase(std::unique(plan.remove.begin(), plan.remove.end()), plan.remove.end());
  return plan;
}

std::vector<InstalledModel> RecordInstalled(const std::vector<InstalledModel>& previous,
                                            const Target& installed) {
  std::vector<InstalledModel> out;
  InstalledModel m{installed.model, installed.digest, installed.package, installed.deployment, 0};
  for (const InstalledModel& p : previous) {
    if (p.model != installed.model) {
      out.push_back(p);
    } else if (p.digest == installed.digest) {
      m.since_ms = p.since_ms;
    }
  }
  out.push_back(std::move(m));
  std::sort(out.begin(), out.end(),
            [](const InstalledModel& a, const InstalledModel& b) { return a.model < b.model; });
  return out;
}

std::vector<InstalledModel> RecordRemoved(const std::vector<InstalledModel>& previous,
                                          const std::string& model) {
  std::vector<InstalledModel> out;
  for (const InstalledModel& p : previous)
    if (p.model != model) out.push_back(p);
  return out;
}

}  // namespace continuum::fleet
