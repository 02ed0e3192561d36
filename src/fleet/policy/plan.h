// Placement planning for one deployment: which nodes a constraint and a data-residency
// requirement select, and why each other node is left out (what `hub plan` prints).
//
// Residency: when non-empty, it must be among the node's "jurisdiction" property (a string, or a
// list of strings); a node without one, or with one of another type, is left out (fail closed):
// "jurisdiction [us] does not include eu". Residency is checked before the constraint.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fleet/policy/constraints.h"
#include "fleet/policy/properties.h"

namespace continuum::fleet {

// The property residency is checked against.
inline constexpr std::string_view kJurisdictionProperty = "jurisdiction";

struct PlanRow {
  std::string node;
  bool match = false;
  std::string reason;
  bool operator==(const PlanRow&) const = default;
};

// One row per node, in the map's (name) order.
std::vector<PlanRow> Plan(const Constraint& constraint, std::string_view residency,
                          const std::map<std::string, Properties>& nodes);

// The residency check alone: match, with "jurisdiction [eu,de] includes eu" or why not.
Constraint::Result CheckResidency(std::string_view residency, const Properties& p);

}  // namespace continuum::fleet
