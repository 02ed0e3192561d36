// What the hub shows of the fleet: a deployment's plan, the router topology, service discovery.
#include <algorithm>
#include <cmath>
#include <string>

#include "fleet/hub/internal.h"

namespace continuum::fleet::hub {
namespace {

// A property's values as strings: a list's items, else the one value.
std::vector<std::string> Values(const Properties& p, std::string_view name) {
  auto it = p.find(name);
  if (it == p.end()) return {};
  if (it->second.type == PropertyType::kList) return it->second.list;
  return {PropertyToString(it->second)};
}

std::string ResidencyReason(const Properties& p, std::string_view residency, bool* ok) {
  std::vector<std::string> j = Values(p, "jurisdiction");
  *ok = std::find(j.begin(), j.end(), residency) != j.end();
  if (*ok) return "jurisdiction includes " + std::string(residency);
  if (j.empty()) return "jurisdiction: not set (residency " + std::string(residency) + " fails closed)";
  std::string list;
  for (const auto& s : j) list += (list.empty() ? "" : ", ") + s;
  return "jurisdiction [" + list + "] does not include " + std::string(residency);
}

std::optional<double> Number(const Properties& p, std::string_view name) {
  auto it = p.find(name);
  if (it == p.end()) return std::nullopt;
  if (it->second.type == PropertyType::kInt) return static_cast<double>(it->second.i);
  if (it->second.type == PropertyType::kFloat) return it->second.f;
  return std::nullopt;
}

}  // namespace

StatusOr<PlanResult> PlanDeployment(const Deployment& d, const std::map<std::string, NodeState>& nodes,
                                    const std::function<bool(const NodeState&)>& fresh,
                                    const std::function<bool(const NodeState&)>& current) {
  ASSIGN_OR_RETURN(Constraint c, Constraint::Parse(d.constraint));
  PlanResult out;
  std::vector<std::string> keep, others;
  for (const auto& [name, n] : nodes) {
    PlanRow row;
    row.node = name;
    row.fresh = fresh(n);
    Properties p = n.Merged();
    Constraint::Result res = c.Evaluate(p);
    row.match = res.match;
    row.reason = res.reason;
    if (row.match && !d.residency.empty()) {
      bool ok = false;
      std::string why = ResidencyReason(p, d.residency, &ok);
      row.match = ok;
      row.reason = ok ? (row.reason.empty() ? why : row.reason + "; " + why) : why;
    }
    if (row.match && current(n))
      keep.push_back(name);
    else if (row.match && row.fresh)
      others.push_back(name);
    else if (row.match && !row.fresh)
      row.reason += "; stale (not heard from recently): not chosen for new placements";
    out.rows.push_back(std::move(row));
  }
  for (auto* list : {&keep, &others})
    for (const auto& name : *list)
      if (static_cast<int64_t>(out.selected.size()) < d.max_replicas) out.selected.push_back(name);
  for (auto& row : out.rows) {
    row.selected = std::find(out.selected.begin(), out.selected.end(), row.node) != out.selected.end();
    if (row.match && !row.selected && row.fresh)
      row.reason += "; not selected: max_replicas " + std::to_string(d.max_replicas) + " reached";
  }
  if (static_cast<int64_t>(out.selected.size()) < d.min_replicas)
    out.warnings.push_back(std::to_string(out.selected.size()) +
                           " node(s) selected, fewer than min_replicas " + std::to_string(d.min_replicas));
  return out;
}

void WritePlan(JsonWriter& w, const Deployment& d, const PlanResult& p) {
  w.BeginObject().Key("deployment").String(d.name).Key("package").String(d.package);
  w.Key("constraint").String(d.constraint).Key("residency").String(d.residency);
  size_t matching = std::count_if(p.rows.begin(), p.rows.end(), [](const PlanRow& r) { return r.match; });
  w.Key("matching").Uint(matching).Key("selected").BeginArray();
  for (const auto& s : p.selected) w.String(s);
  w.EndArray().Key("warnings").BeginArray();
  for (const auto& s : p.warnings) w.String(s);
  w.EndArray().Key("nodes").BeginArray();
  for (const auto& r : p.rows)
    w.BeginObject()
        .Key("node")
        .String(r.node)
        .Key("match")
        .Bool(r.match)
        .Key("selected")
        .Bool(r.selected)
        .Key("fresh")
        .Bool(r.fresh)
        .Key("reason")
        .String(r.reason)
        .EndObject();
  w.EndArray().EndObject();
}

std::optional<std::pair<std::string, std::string>> HostPortOf(std::string_view url) {
  std::string scheme;
  if (url.rfind("http://", 0) == 0)
    scheme = "http";
  else if (url.rfind("https://", 0) == 0)
    scheme = "https";
  else
    return std::nullopt;
  std::string_view rest = url.substr(scheme.size() + 3);
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty() || rest.find_first_of(" \t\r\n\"\\") != std::string_view::npos) return std::nullopt;
  std::string hostport(rest);
  bool has_port = hostport.back() != ']' && hostport.rfind(':') != std::string::npos &&
                  (hostport.front() != '[' || hostport.rfind("]:") != std::string::npos);
  if (!has_port) hostport += scheme == "https" ? ":443" : ":80";
  return std::make_pair(hostport, scheme);
}

std::string TopologyJson(const std::map<std::string, NodeState>& nodes,
                         const std::function<bool(const NodeState&)>& fresh) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("schema_version").Int(1).Key("nodes").BeginArray();
  for (const auto& [name, n] : nodes) {
    if (n.report.address.empty() || !fresh(n)) continue;
    std::vector<const ModelReport*> ready;
    for (const auto& m : n.report.models)
      if (m.ready && !m.versions.empty()) ready.push_back(&m);
    if (ready.empty()) continue;
    Properties p = n.Merged();
    std::vector<std::string> tier = Values(p, "tier");
    std::string t = tier.size() == 1 && (tier[0] == "device" || tier[0] == "edge" || tier[0] == "cloud")
                        ? tier[0]
                        : "edge";
    w.BeginObject().Key("name").String(name).Key("url").String(n.report.address).Key("tier").String(t);
    if (auto region = Values(p, "region"); region.size() == 1) w.Key("region").String(region[0]);
    w.Key("jurisdiction").BeginArray();
    for (const auto& j : Values(p, "jurisdiction")) w.String(j);
    w.EndArray();
    if (auto hw = Values(p, "hardware"); hw.size() == 1) w.Key("hardware").String(hw[0]);
    if (auto c = Number(p, "cost_per_compute_second"); c && *c >= 0 && std::isfinite(*c))
      w.Key("cost_per_compute_second").Double(*c);
    if (auto e = Number(p, "energy_per_compute_second"); e && *e >= 0 && std::isfinite(*e))
      w.Key("energy_per_compute_second").Double(*e);
    w.Key("models").BeginArray();
    for (const ModelReport* m : ready) {
      w.BeginObject().Key("name").String(m->name).Key("versions").BeginArray();
      for (int64_t v : m->versions) w.Int(v);
      w.EndArray().EndObject();
    }
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

std::string ServiceDiscoveryJson(const std::map<std::string, NodeState>& nodes, std::string_view self_url) {
  std::string out;
  JsonWriter w(&out);
  w.BeginArray();
  auto group = [&](const std::pair<std::string, std::string>& hp, std::string_view role,
                   const std::string& node, const Properties* p) {
    w.BeginObject().Key("targets").BeginArray().String(hp.first).EndArray().Key("labels").BeginObject();
    w.Key("__scheme__").String(hp.second).Key("role").String(role);
    if (!node.empty()) w.Key("node").String(node);
    if (p != nullptr) {
      if (auto t = Values(*p, "tier"); t.size() == 1) w.Key("tier").String(t[0]);
      if (auto r = Values(*p, "region"); r.size() == 1) w.Key("region").String(r[0]);
    }
    w.EndObject().EndObject();
  };
  if (auto hp = HostPortOf(self_url)) group(*hp, "hub", "", nullptr);
  for (const auto& [name, n] : nodes) {
    auto hp = HostPortOf(n.report.address);
    if (!hp) continue;
    Properties p = n.Merged();
    group(*hp, "node", name, &p);
  }
  w.EndArray();
  return out;
}

}  // namespace continuum::fleet::hub
