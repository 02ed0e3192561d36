#include "fleet/policy/plan.h"

namespace continuum::fleet {

Constraint::Result CheckResidency(std::string_view residency, const Properties& p) {
  const std::string name(kJurisdictionProperty);
  auto it = p.find(kJurisdictionProperty);
  if (it == p.end())
    return {false, name + ": not set (residency " + std::string(residency) + " requires it)"};
  const PropertyValue& v = it->second;
  bool included = false;
  if (v.type == PropertyType::kString) {
    included = v.s == residency;
  } else if (v.type == PropertyType::kList) {
    for (const std::string& item : v.list) included = included || item == residency;
  } else {
    return {false, name + " is " + PropertyToString(v) + " (" + std::string(PropertyTypeName(v.type)) +
                       "), not a string or a list"};
  }
  std::string shown = name + " " + PropertyToString(v);
  if (!included) return {false, shown + " does not include " + std::string(residency)};
  return {true, shown + " includes " + std::string(residency)};
}

std::vector<PlanRow> Plan(const Constraint& constraint, std::string_view residency,
                          const std::map<std::string, Properties>& nodes) {
  std::vector<PlanRow> rows;
  rows.reserve(nodes.size());
  for (const auto& [node, properties] : nodes) {
    Constraint::Result r = constraint.Evaluate(properties);
    if (!residency.empty()) {
      Constraint::Result where = CheckResidency(residency, properties);
      if (!where.match) {
        r = where;
      } else if (r.match) {
        r.reason = r.reason == "no constraint" ? where.reason : where.reason + " and " + r.reason;
      }
    }
    rows.push_back(PlanRow{node, r.match, std::move(r.reason)});
  }
  return rows;
}

}  // namespace continuum::fleet
