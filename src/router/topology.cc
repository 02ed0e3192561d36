// Parsing of the topology file and of request policies (see topology.h for the formats).
#include "router/topology.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/config_reader.h"
#include "common/enum_names.h"
#include "common/json_writer.h"

namespace continuum::router {
namespace {

using config::Find;
using config::Index;
using config::Key;
using config::Reader;
using element = config::Element;
using object = config::Object;

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

constexpr EnumName<Tier> kTierNames[] = {
    {Tier::kDevice, "device"}, {Tier::kEdge, "edge"}, {Tier::kCloud, "cloud"}};
constexpr EnumName<Objective> kObjectiveNames[] = {{Objective::kFastest, "fastest"},
                                                   {Objective::kCheapest, "cheapest"},
                                                   {Objective::kLeastEnergy, "least_energy"}};

// The value of `E` named `s`; "must be a, b or c" otherwise.
template <typename E, size_t N>
StatusOr<E> ParseName(const EnumName<E> (&table)[N], std::string_view s) {
  if (std::optional<E> v = ValueOf(table, s)) return *v;
  return InvalidArgument("must be " + NameList(table));
}

StatusOr<Tier> ParseTier(std::string_view s) { return ParseName(kTierNames, s); }
StatusOr<Objective> ParseObjective(std::string_view s) { return ParseName(kObjectiveNames, s); }

constexpr double kMaxLatencyTargetMs = 3'600'000;

StatusOr<double> CheckLatencyTarget(double v) {
  if (!std::isfinite(v) || v <= 0 || v > kMaxLatencyTargetMs) {
    return InvalidArgument("must be a number of milliseconds > 0 and <= 3600000");
  }
  return v;
}

Status CheckResidencyName(std::string_view s) {
  if (s.empty()) return InvalidArgument("must not be empty");
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return InvalidArgument("'" + std::string(s) + "' is not a residency class (letters, digits, - _ .)");
    }
  }
  return Status::Ok();
}

// Reads the policy keys of `o`. With `strict`, unknown keys are refused (model_defaults);
// request parameters carry model-specific keys too, so there they are skipped.
Status ReadPolicy(const Reader& r, object o, std::string_view where, bool strict, Policy* p) {
  if (strict) {
    RETURN_IF_ERROR(
        r.CheckKeys(o, where, {"latency_target_ms", "residency", "objective", "prefer_tier", "hedge"}));
  }
  auto field = [&](std::string_view k) { return Key(where, k); };
  if (auto e = Find(o, "latency_target_ms")) {
    ASSIGN_OR_RETURN(double v, r.Double(*e, field("latency_target_ms"), 0, kMaxLatencyTargetMs));
    auto c = CheckLatencyTarget(v);
    if (!c.ok()) return r.Err(field("latency_target_ms"), c.status().message());
    p->latency_target_ms = v;
  }
  if (auto e = Find(o, "residency")) {
    ASSIGN_OR_RETURN(std::string s, r.String(*e, field("residency"), true));
    if (Status st = CheckResidencyName(s); !st.ok()) return r.Err(field("residency"), st.message());
    p->residency = s;
  }
  if (auto e = Find(o, "objective")) {
    ASSIGN_OR_RETURN(std::string s, r.String(*e, field("objective"), false));
    auto obj = ParseObjective(s);
    if (!obj.ok()) return r.Err(field("objective"), obj.status().message() + ", got '" + s + "'");
    p->objective = *obj;
  }
  if (auto e = Find(o, "prefer_tier")) {
    ASSIGN_OR_RETURN(std::string s, r.String(*e, field("prefer_tier"), false));
    auto t = ParseTier(s);
    if (!t.ok()) return r.Err(field("prefer_tier"), t.status().message() + ", got '" + s + "'");
    p->prefer_tier = *t;
  }
  if (auto e = Find(o, "hedge")) {
    ASSIGN_OR_RETURN(p->hedge, r.Bool(*e, field("hedge")));
  }
  return Status::Ok();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status ParseNodeTls(const Reader& r, element e, const std::string& at, const std::string& url, NodeTls* t) {
  auto f = [&](std::string_view k) { return Key(at, k); };
  if (url.rfind("https://", 0) != 0) return r.Err(at, "only for an https:// url");
  ASSIGN_OR_RETURN(object o, r.Object(e, at));
  RETURN_IF_ERROR(r.CheckKeys(o, at, {"ca", "cert", "key", "server_name"}));
  for (auto [key, out] : {std::pair{"ca", &t->ca}, std::pair{"cert", &t->cert}, std::pair{"key", &t->key},
                          std::pair{"server_name", &t->server_name}}) {
    if (auto x = Find(o, key)) {
      ASSIGN_OR_RETURN(*out, r.String(*x, f(key), true));
    }
  }
  if (t->cert.empty() != t->key.empty()) return r.Err(at, "cert and key go together");
  return Status::Ok();
}

Status ParseNode(const Reader& r, element e, const std::string& at, Node* n) {
  auto f = [&](std::string_view k) { return Key(at, k); };
  ASSIGN_OR_RETURN(object o, r.Object(e, at));
  RETURN_IF_ERROR(r.CheckKeys(o, at,
                              {"name", "url", "tls", "tier", "region", "jurisdiction", "hardware",
                               "cost_per_compute_second", "energy_per_compute_second", "models"}));
  for (std::string_view req : {"name", "url", "tier", "models"})
    RETURN_IF_ERROR(r.Required(o, at, req).status());
  ASSIGN_OR_RETURN(n->name, r.String(*Find(o, "name"), f("name"), true));
  ASSIGN_OR_RETURN(n->url, r.String(*Find(o, "url"), f("url"), true));
  if (auto x = Find(o, "tls")) RETURN_IF_ERROR(ParseNodeTls(r, *x, f("tls"), n->url, &n->tls.emplace()));
  ASSIGN_OR_RETURN(std::string tier, r.String(*Find(o, "tier"), f("tier")));
  auto t = ParseTier(tier);
  if (!t.ok()) return r.Err(f("tier"), t.status().message());
  n->tier = *t;
  if (auto x = Find(o, "region")) {
    ASSIGN_OR_RETURN(n->region, r.String(*x, f("region")));
  }
  if (auto x = Find(o, "hardware")) {
    ASSIGN_OR_RETURN(n->hardware, r.String(*x, f("hardware")));
  }
  if (auto x = Find(o, "jurisdiction")) {
    ASSIGN_OR_RETURN(auto a, r.Array(*x, f("jurisdiction")));
    for (element j : a) {
      std::string jf = Index(f("jurisdiction"), n->jurisdiction.size());
      ASSIGN_OR_RETURN(std::string s, r.String(j, jf, true));
      if (Status st = CheckResidencyName(s); !st.ok()) return r.Err(jf, st.message());
      if (std::find(n->jurisdiction.begin(), n->jurisdiction.end(), s) != n->jurisdiction.end()) {
        return r.Err(jf, "duplicate residency class '" + s + "'");
      }
      n->jurisdiction.push_back(s);
    }
  }
  if (auto x = Find(o, "cost_per_compute_second")) {
    ASSIGN_OR_RETURN(n->cost_per_compute_second, r.Double(*x, f("cost_per_compute_second"), 0, 1e9));
  }
  if (auto x = Find(o, "energy_per_compute_second")) {
    ASSIGN_OR_RETURN(n->energy_per_compute_second, r.Double(*x, f("energy_per_compute_second"), 0, 1e9));
  }
  ASSIGN_OR_RETURN(auto models, r.Array(*Find(o, "models"), f("models")));
  for (element m : models) {
    std::string mat = Index(f("models"), n->models.size());
    auto mf = [&](std::string_view k) { return Key(mat, k); };
    ASSIGN_OR_RETURN(object mo, r.Object(m, mat));
    RETURN_IF_ERROR(r.CheckKeys(mo, mat, {"name", "versions", "instances", "compute_ms"}));
    ModelHolding h;
    ASSIGN_OR_RETURN(element y, r.Required(mo, mat, "name"));
    ASSIGN_OR_RETURN(h.name, r.String(y, mf("name"), true));
    for (const auto& other : n->models) {
      if (other.name == h.name) return r.Err(mf("name"), "duplicate model '" + h.name + "'");
    }
    ASSIGN_OR_RETURN(y, r.Required(mo, mat, "versions"));
    ASSIGN_OR_RETURN(auto va, r.Array(y, mf("versions")));
    for (element v : va) {
      ASSIGN_OR_RETURN(int64_t ver, r.Int(v, Index(mf("versions"), h.versions.size()), 1, INT64_MAX));
      h.versions.push_back(ver);
    }
    if (h.versions.empty()) return r.Err(mf("versions"), "must not be empty");
    if (auto x = Find(mo, "instances")) {
      ASSIGN_OR_RETURN(int64_t in, r.Int(*x, mf("instances"), 1, 1024));
      h.instances = static_cast<int>(in);
    }
    if (auto x = Find(mo, "compute_ms")) {
      ASSIGN_OR_RETURN(h.compute_ms, r.Double(*x, mf("compute_ms"), 0, 3'600'000));
    }
    n->models.push_back(std::move(h));
  }
  return Status::Ok();
}

}  // namespace

std::string_view TierName(Tier t) { return NameOf(kTierNames, t); }
std::string_view ObjectiveName(Objective o) { return NameOf(kObjectiveNames, o); }

const ModelHolding* Node::FindModel(std::string_view model, int64_t version) const {
  for (const auto& m : models) {
    if (m.name != model) continue;
    if (version == 0 || std::find(m.versions.begin(), m.versions.end(), version) != m.versions.end())
      return &m;
  }
  return nullptr;
}

bool Node::Satisfies(std::string_view cls) const {
  return std::find(jurisdiction.begin(), jurisdiction.end(), cls) != jurisdiction.end();
}

const Node* Topology::FindNode(std::string_view name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

bool Topology::KnowsResidency(std::string_view cls) const {
  return std::find(residency_classes.begin(), residency_classes.end(), cls) != residency_classes.end();
}

Policy MergePolicy(const Policy& base, const Policy& over) {
  Policy p = base;
  if (over.latency_target_ms) p.latency_target_ms = over.latency_target_ms;
  if (over.residency) p.residency = over.residency;
  if (over.objective) p.objective = over.objective;
  if (over.prefer_tier) p.prefer_tier = over.prefer_tier;
  if (over.hedge) p.hedge = over.hedge;
  return p;
}

StatusOr<Policy> ParsePolicyJson(std::string_view json) {
  Reader r("parameters.", {.not_json = "invalid JSON"});
  object o;
  RETURN_IF_ERROR(r.Parse(json, &o));  // not CheckKeys: the model's own parameters sit beside these
  Policy p;
  RETURN_IF_ERROR(ReadPolicy(r, o, "", false, &p));
  return p;
}

StatusOr<Policy> ParsePolicyHeader(std::string_view value) {
  Policy p;
  std::set<std::string, std::less<>> seen;
  auto err = [](std::string_view field, std::string_view what) {
    return InvalidArgument("X-Continuum-Policy: " + std::string(field) + ": " + std::string(what));
  };
  while (!value.empty()) {
    size_t semi = value.find(';');
    std::string_view item = Trim(value.substr(0, semi));
    value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) return err(item, "expected key=value");
    std::string_view key = Trim(item.substr(0, eq));
    std::string_view val = Trim(item.substr(eq + 1));
    if (!seen.insert(std::string(key)).second) return err(key, "given twice");
    if (key == "latency_target_ms") {
      std::string s(val);
      char* end = nullptr;
      double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size()) return err(key, "expected a number, got '" + s + "'");
      auto c = CheckLatencyTarget(v);
      if (!c.ok()) return err(key, c.status().message());
      p.latency_target_ms = v;
    } else if (key == "residency") {
      if (Status st = CheckResidencyName(val); !st.ok()) return err(key, st.message());
      p.residency = std::string(val);
    } else if (key == "objective") {
      auto o = ParseObjective(val);
      if (!o.ok()) return err(key, o.status().message() + ", got '" + std::string(val) + "'");
      p.objective = *o;
    } else if (key == "prefer_tier") {
      auto t = ParseTier(val);
      if (!t.ok()) return err(key, t.status().message() + ", got '" + std::string(val) + "'");
      p.prefer_tier = *t;
    } else if (key == "hedge") {
      if (val == "on" || val == "true" || val == "1") {
        p.hedge = true;
      } else if (val == "off" || val == "false" || val == "0") {
        p.hedge = false;
      } else {
        return err(key, "expected on or off, got '" + std::string(val) + "'");
      }
    } else {
      return err(key, "unknown key (known: latency_target_ms, residency, objective, prefer_tier, hedge)");
    }
  }
  return p;
}

std::string PolicyToJson(const Policy& p) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  if (p.latency_target_ms) w.Key("latency_target_ms").Double(*p.latency_target_ms);
  if (p.residency) w.Key("residency").String(*p.residency);
  if (p.objective) w.Key("objective").String(ObjectiveName(*p.objective));
  if (p.prefer_tier) w.Key("prefer_tier").String(TierName(*p.prefer_tier));
  if (p.hedge) w.Key("hedge").Bool(*p.hedge);
  w.EndObject();
  return out;
}

namespace {

// The steps of ParseTopology, in the order the file's fields depend on each other: the classes
// before the nodes that claim them, the nodes before the links that join them, all of them before
// the model defaults that name a class.

Status ParseSchemaAndOrigin(const Reader& r, object o, Topology* t) {
  ASSIGN_OR_RETURN(element e, r.Required(o, "", "schema_version"));
  ASSIGN_OR_RETURN(int64_t version, r.Int(e, "schema_version", 1, 1000));
  if (version != Topology::kSchemaVersion) {
    return r.Err("schema_version", "version " + std::to_string(version) +
                                       " is not supported (this build reads " +
                                       std::to_string(Topology::kSchemaVersion) + ")");
  }
  if (auto x = Find(o, "origin")) {
    ASSIGN_OR_RETURN(t->origin, r.String(*x, "origin", true));
  }
  return Status::Ok();
}

// The declared residency classes; false when the file declares none (the nodes' then make the list).
StatusOr<bool> ParseResidencyClasses(const Reader& r, object o, Topology* t) {
  auto x = Find(o, "residency_classes");
  if (!x) return false;
  ASSIGN_OR_RETURN(auto a, r.Array(*x, "residency_classes"));
  for (element c : a) {
    std::string f = Index("residency_classes", t->residency_classes.size());
    ASSIGN_OR_RETURN(std::string s, r.String(c, f, true));
    if (Status st = CheckResidencyName(s); !st.ok()) return r.Err(f, st.message());
    if (t->KnowsResidency(s)) return r.Err(f, "duplicate residency class '" + s + "'");
    t->residency_classes.push_back(s);
  }
  return true;
}

Status ParseNodes(const Reader& r, object o, bool declared_classes, Topology* t) {
  ASSIGN_OR_RETURN(element e, r.Required(o, "", "nodes"));
  ASSIGN_OR_RETURN(auto nodes, r.Array(e, "nodes"));
  for (element ne : nodes) {
    const std::string at = Index("nodes", t->nodes.size());
    Node n;
    RETURN_IF_ERROR(ParseNode(r, ne, at, &n));
    if (n.name == t->origin) return r.Err(at + ".name", "'" + n.name + "' is the origin's name");
    if (t->FindNode(n.name)) return r.Err(at + ".name", "duplicate node name '" + n.name + "'");
    for (size_t j = 0; j < n.jurisdiction.size(); ++j) {
      const std::string& c = n.jurisdiction[j];
      if (declared_classes && !t->KnowsResidency(c)) {
        return r.Err(Index(at + ".jurisdiction", j),
                     "unknown residency class '" + c + "' (declared: " + Join(t->residency_classes) + ")");
      }
    }
    t->nodes.push_back(std::move(n));
  }
  if (t->nodes.empty()) return r.Err("nodes", "must not be empty");
  if (!declared_classes) {
    for (const auto& n : t->nodes) {
      for (const auto& c : n.jurisdiction) {
        if (!t->KnowsResidency(c)) t->residency_classes.push_back(c);
      }
    }
  }
  return Status::Ok();
}

// One link, between the origin or nodes `t` already holds.
Status ParseLink(const Reader& r, element le, const std::string& at, const Topology& t, Link* l) {
  auto f = [&](std::string_view k) { return Key(at, k); };
  ASSIGN_OR_RETURN(object lo, r.Object(le, at));
  RETURN_IF_ERROR(r.CheckKeys(lo, at, {"from", "to", "rtt_ms", "bandwidth_mbps"}));
  for (std::string_view req : {"from", "to", "rtt_ms", "bandwidth_mbps"}) {
    RETURN_IF_ERROR(r.Required(lo, at, req).status());
  }
  ASSIGN_OR_RETURN(l->from, r.String(*Find(lo, "from"), f("from"), true));
  ASSIGN_OR_RETURN(l->to, r.String(*Find(lo, "to"), f("to"), true));
  for (auto [name, value] : {std::pair{"from", &l->from}, std::pair{"to", &l->to}}) {
    if (*value != t.origin && !t.FindNode(*value)) {
      return r.Err(f(name), "'" + *value + "' is neither the origin ('" + t.origin + "') nor a node");
    }
  }
  if (l->from == l->to) return r.Err(f("to"), "a link must join two different endpoints");
  for (const auto& other : t.links) {
    if (other.from == l->from && other.to == l->to) {
      return r.Err(at, "duplicate link " + l->from + " -> " + l->to);
    }
  }
  ASSIGN_OR_RETURN(l->rtt_ms, r.Double(*Find(lo, "rtt_ms"), f("rtt_ms"), 0, 600'000));
  ASSIGN_OR_RETURN(l->bandwidth_mbps, r.Double(*Find(lo, "bandwidth_mbps"), f("bandwidth_mbps"), 1e-6, 1e9));
  return Status::Ok();
}

Status ParseLinks(const Reader& r, object o, Topology* t) {
  auto x = Find(o, "links");
  if (!x) return Status::Ok();
  ASSIGN_OR_RETURN(auto links, r.Array(*x, "links"));
  for (element le : links) {
    Link l;
    RETURN_IF_ERROR(ParseLink(r, le, Index("links", t->links.size()), *t, &l));
    t->links.push_back(std::move(l));
  }
  return Status::Ok();
}

Status ParseModelDefaults(const Reader& r, object o, Topology* t) {
  auto x = Find(o, "model_defaults");
  if (!x) return Status::Ok();
  ASSIGN_OR_RETURN(object md, r.Object(*x, "model_defaults"));
  for (auto [model, value] : md) {
    std::string at = Key("model_defaults", model);
    ASSIGN_OR_RETURN(object po, r.Object(value, at));
    Policy p;
    RETURN_IF_ERROR(ReadPolicy(r, po, at, true, &p));
    if (p.residency && !t->KnowsResidency(*p.residency)) {
      return r.Err(at + ".residency", "unknown residency class '" + *p.residency +
                                          "' (known: " + Join(t->residency_classes) + ")");
    }
    t->model_defaults[std::string(model)] = p;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Topology> ParseTopology(std::string_view json) {
  Topology t;
  Reader r("topology: ", {.not_json = "invalid JSON", .top_level = "(top level)"});
  ASSIGN_OR_RETURN(object o, r.ParseObject(json, {"schema_version", "origin", "residency_classes", "nodes",
                                                  "links", "model_defaults"}));
  RETURN_IF_ERROR(ParseSchemaAndOrigin(r, o, &t));
  ASSIGN_OR_RETURN(bool declared_classes, ParseResidencyClasses(r, o, &t));
  RETURN_IF_ERROR(ParseNodes(r, o, declared_classes, &t));
  RETURN_IF_ERROR(ParseLinks(r, o, &t));
  RETURN_IF_ERROR(ParseModelDefaults(r, o, &t));
  return t;
}

StatusOr<Topology> LoadTopology(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("topology: " + path + ": no such file");
  if (std::filesystem::file_size(path, ec) > (16u << 20))
    return InvalidArgument("topology: larger than 16 MiB");
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseTopology(text);
}

}  // namespace continuum::router
