#include <gtest/gtest.h>

#include <string>

#include "router/router.h"

namespace continuum::router {
namespace {

const char* kTopology = R"({
  "schema_version": 1,
  "residency_classes": ["eu", "eu-de", "eu-fr", "us"],
  "nodes": [
    {"name": "phone", "url": "local://", "tier": "device", "jurisdiction": ["eu", "eu-de"],
     "hardware": "npu", "cost_per_compute_second": 0, "energy_per_compute_second": 3,
     "models": [{"name": "m", "versions": [1], "compute_ms": 40}]},
    {"name": "edge-paris", "url": "http://edge-paris:8000", "tier": "edge", "region": "eu-west",
     "jurisdiction": ["eu", "eu-fr"], "cost_per_compute_second": 0.001, "energy_per_compute_second": 20,
     "models": [{"name": "m", "versions": [1, 2], "instances": 2, "compute_ms": 4}]},
    {"name": "cloud-us", "url": "http://cloud-us:8000", "tier": "cloud", "jurisdiction": ["us"],
     "cost_per_compute_second": 0.01, "energy_per_compute_second": 200,
     "models": [{"name": "m", "versions": [2]}]}
  ],
  "links": [
    {"from": "gateway", "to": "edge-paris", "rtt_ms": 8, "bandwidth_mbps": 400},
    {"from": "gateway", "to": "cloud-us", "rtt_ms": 90, "bandwidth_mbps": 1000},
    {"from": "edge-paris", "to": "cloud-us", "rtt_ms": 85, "bandwidth_mbps": 1000}
  ],
  "model_defaults": {"m": {"latency_target_ms": 50, "objective": "cheapest"}}
})";

TEST(Topology, ParsesEverything) {
  auto t = ParseTopology(kTopology);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->nodes.size(), 3u);
  EXPECT_EQ(t->origin, "gateway");
  const Node* e = t->FindNode("edge-paris");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->tier, Tier::kEdge);
  EXPECT_EQ(e->region, "eu-west");
  EXPECT_TRUE(e->Satisfies("eu-fr"));
  EXPECT_FALSE(e->Satisfies("eu-de"));
  EXPECT_DOUBLE_EQ(e->cost_per_compute_second, 0.001);
  ASSERT_NE(e->FindModel("m", 2), nullptr);
  EXPECT_EQ(e->FindModel("m", 2)->instances, 2);
  EXPECT_EQ(e->FindModel("m", 3), nullptr);
  EXPECT_NE(e->FindModel("m", 0), nullptr);
  EXPECT_DOUBLE_EQ(t->FindNode("cloud-us")->models[0].compute_ms, 10.0);
  EXPECT_EQ(t->links.size(), 3u);
  EXPECT_EQ(t->model_defaults.at("m").objective, Objective::kCheapest);
  EXPECT_TRUE(t->KnowsResidency("us"));
}

TEST(Topology, ResidencyClassesDefaultToUnionOfJurisdictions) {
  auto t = ParseTopology(R"({"schema_version":1,"nodes":[
    {"name":"a","url":"u","tier":"edge","jurisdiction":["eu","eu-de"],"models":[{"name":"m","versions":[1]}]},
    {"name":"b","url":"u","tier":"cloud","jurisdiction":["eu","us"],"models":[{"name":"m","versions":[1]}]}]})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->residency_classes, (std::vector<std::string>{"eu", "eu-de", "us"}));
}

std::string NodeJson(std::string name, std::string extra = "") {
  return R"({"name":")" + name + R"(","url":"http://x","tier":"edge","jurisdiction":["eu"],)" + extra +
         R"("models":[{"name":"m","versions":[1]}]})";
}

std::string Topo(std::string nodes, std::string rest = "") {
  return R"({"schema_version":1,"nodes":[)" + nodes + "]" + rest + "}";
}

struct ErrorCase {
  std::string json;
  std::string message;
};

TEST(Topology, ErrorsNameTheField) {
  std::string a = NodeJson("a"), b = NodeJson("b");
  std::vector<ErrorCase> cases = {
      {"{", "topology: invalid JSON"},
      {"", "topology: invalid JSON"},
      {R"({"schema_version":1} {})", "topology: invalid JSON"},
      {"[]", "topology: (top level): expected an object"},
      {R"({"nodes":[]})", "topology: schema_version: required"},
      {R"({"schema_version":2,"nodes":[]})", "schema_version: version 2 is not supported"},
      {R"({"schema_version":1})", "topology: nodes: required"},
      {R"({"schema_version":1,"nodes":[]})", "topology: nodes: must not be empty"},
      {R"({"schema_version":1,"bogus":1,"nodes":[]})", "topology: bogus: unknown field"},
      {Topo(a + "," + b + R"(,{"name":"c","url":"u","tier":"fog","models":[]})"),
       "topology: nodes[2].tier: must be device, edge or cloud"},
      {Topo(a + "," + NodeJson("a")), "topology: nodes[1].name: duplicate node name 'a'"},
      {Topo(R"({"url":"u","tier":"edge","models":[]})"), "topology: nodes[0].name: required"},
      {Topo(R"({"name":"a","tier":"edge","models":[]})"), "topology: nodes[0].url: required"},
      {Topo(R"({"name":"a","url":"u","models":[]})"), "topology: nodes[0].tier: required"},
      {Topo(R"({"name":"a","url":"u","tier":"edge"})"), "topology: nodes[0].models: required"},
      {Topo(R"({"name":"","url":"u","tier":"edge","models":[]})"),
       "topology: nodes[0].name: must not be empty"},
      {Topo(R"({"name":"gateway","url":"u","tier":"edge","models":[]})"),
       "nodes[0].name: 'gateway' is the origin"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","colour":"red","models":[]})"),
       "topology: nodes[0].colour: unknown field"},
      {Topo(NodeJson("a", R"("cost_per_compute_second":-1,)")),
       "topology: nodes[0].cost_per_compute_second: must be between 0 and"},
      {Topo(NodeJson("a", R"("energy_per_compute_second":"x",)")),
       "topology: nodes[0].energy_per_compute_second: expected a number"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","jurisdiction":"eu","models":[]})"),
       "topology: nodes[0].jurisdiction: expected an array"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","jurisdiction":["eu","eu"],"models":[]})"),
       "topology: nodes[0].jurisdiction[1]: duplicate residency class 'eu'"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","jurisdiction":["e u"],"models":[]})"),
       "topology: nodes[0].jurisdiction[0]: 'e u' is not a residency class"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","models":[{"name":"m","versions":[]}]})"),
       "topology: nodes[0].models[0].versions: must not be empty"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","models":[{"name":"m","versions":[0]}]})"),
       "topology: nodes[0].models[0].versions[0]: must be between 1 and"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","models":[{"name":"m"}]})"),
       "topology: nodes[0].models[0].versions: required"},
      {Topo(R"({"name":"a","url":"u","tier":"edge","models":[{"name":"m","versions":[1],"instances":0}]})"),
       "topology: nodes[0].models[0].instances: must be between 1 and 1024"},
      {Topo(
           R"({"name":"a","url":"u","tier":"edge","models":[{"name":"m","versions":[1]},{"name":"m","versions":[2]}]})"),
       "topology: nodes[0].models[1].name: duplicate model 'm'"},
      {R"({"schema_version":1,"residency_classes":["eu"],"nodes":[)" +
           std::string(R"({"name":"a","url":"u","tier":"edge","jurisdiction":["eu","us"],"models":[]})") +
           "]}",
       "topology: nodes[0].jurisdiction[1]: unknown residency class 'us' (declared: eu)"},
      {R"({"schema_version":1,"residency_classes":["eu","eu"],"nodes":[)" + a + "]}",
       "topology: residency_classes[1]: duplicate residency class 'eu'"},
      {Topo(a, R"(,"links":[{"from":"gateway","to":"nowhere","rtt_ms":1,"bandwidth_mbps":1}])"),
       "topology: links[0].to: 'nowhere' is neither the origin ('gateway') nor a node"},
      {Topo(a, R"(,"links":[{"from":"ghost","to":"a","rtt_ms":1,"bandwidth_mbps":1}])"),
       "topology: links[0].from: 'ghost' is neither the origin"},
      {Topo(a, R"(,"links":[{"from":"a","to":"a","rtt_ms":1,"bandwidth_mbps":1}])"),
       "topology: links[0].to: a link must join two different endpoints"},
      {Topo(a, R"(,"links":[{"from":"gateway","to":"a","rtt_ms":1,"bandwidth_mbps":1},)"
               R"({"from":"gateway","to":"a","rtt_ms":2,"bandwidth_mbps":1}])"),
       "topology: links[1]: duplicate link gateway -> a"},
      {Topo(a, R"(,"links":[{"from":"gateway","to":"a","rtt_ms":-1,"bandwidth_mbps":1}])"),
       "topology: links[0].rtt_ms: must be between 0 and"},
      {Topo(a, R"(,"links":[{"from":"gateway","to":"a","rtt_ms":1,"bandwidth_mbps":0}])"),
       "topology: links[0].bandwidth_mbps: must be between"},
      {Topo(a, R"(,"links":[{"from":"gateway","to":"a","rtt_ms":1}])"),
       "topology: links[0].bandwidth_mbps: required"},
      {Topo(a, R"(,"model_defaults":{"m":{"residency":"mars"}})"),
       "topology: model_defaults.m.residency: unknown residency class 'mars' (known: eu)"},
      {Topo(a, R"(,"model_defaults":{"m":{"objective":"slowest"}})"),
       "topology: model_defaults.m.objective: must be fastest, cheapest or least_energy"},
      {Topo(a, R"(,"model_defaults":{"m":{"speed":1}})"), "topology: model_defaults.m.speed: unknown field"},
      {Topo(a, R"(,"model_defaults":{"m":{"latency_target_ms":0}})"),
       "topology: model_defaults.m.latency_target_ms: must be a number of milliseconds > 0"},
      {Topo(a, R"(,"model_defaults":{"m":{"hedge":"yes"}})"),
       "topology: model_defaults.m.hedge: expected true or false"},
      {Topo(a, R"(,"model_defaults":{"m":{"prefer_tier":"fog"}})"),
       "topology: model_defaults.m.prefer_tier: must be device, edge or cloud"},
  };
  for (const auto& c : cases) {
    auto t = ParseTopology(c.json);
    ASSERT_FALSE(t.ok()) << c.json;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.message), std::string::npos)
        << "got: " << t.status().message() << "\nwant: " << c.message << "\nfor: " << c.json;
  }
}

TEST(Topology, ANodeCarriesItsOwnTlsSettings) {
  auto t = ParseTopology(
      Topo(R"({"name":"a","url":"https://a:8443","tls":{"ca":"ca.pem","cert":"gw.pem","key":"gw.key",)"
           R"("server_name":"node-a"},"tier":"edge","models":[]},)"
           R"({"name":"b","url":"https://b","tls":{"ca":"b-ca.pem"},"tier":"edge","models":[]},)"
           R"({"name":"c","url":"https://c","tier":"edge","models":[]})"));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE(t->FindNode("a")->tls.has_value());
  EXPECT_EQ(*t->FindNode("a")->tls, (NodeTls{"ca.pem", "gw.pem", "gw.key", "node-a"}));
  EXPECT_EQ(*t->FindNode("b")->tls, (NodeTls{"b-ca.pem", "", "", ""}));
  EXPECT_FALSE(t->FindNode("c")->tls.has_value());
  std::vector<ErrorCase> cases = {
      {Topo(R"({"name":"a","url":"http://a","tls":{"ca":"x"},"tier":"edge","models":[]})"),
       "topology: nodes[0].tls: only for an https:// url"},
      {Topo(R"({"name":"a","url":"https://a","tls":{"ca":"x","pin":"y"},"tier":"edge","models":[]})"),
       "topology: nodes[0].tls.pin: unknown field"},
      {Topo(R"({"name":"a","url":"https://a","tls":{"cert":"x"},"tier":"edge","models":[]})"),
       "topology: nodes[0].tls: cert and key go together"},
      {Topo(R"({"name":"a","url":"https://a","tls":{"ca":""},"tier":"edge","models":[]})"),
       "topology: nodes[0].tls.ca: must not be empty"},
      {Topo(R"({"name":"a","url":"https://a","tls":"ca.pem","tier":"edge","models":[]})"),
       "topology: nodes[0].tls: expected an object"},
  };
  for (const auto& c : cases) {
    auto bad = ParseTopology(c.json);
    ASSERT_FALSE(bad.ok()) << c.json;
    EXPECT_NE(bad.status().message().find(c.message), std::string::npos)
        << "got: " << bad.status().message() << "\nwant: " << c.message;
  }
}

TEST(Topology, LoadMissingFile) {
  auto t = LoadTopology("/nonexistent/topology.json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
}

TEST(Policy, ParsesJsonParameters) {
  auto p = ParsePolicyJson(
      R"({"latency_target_ms":50,"residency":"eu","objective":"least_energy","prefer_tier":"edge","hedge":true,"temperature":0.3})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->latency_target_ms, 50.0);
  EXPECT_EQ(p->residency, "eu");
  EXPECT_EQ(p->objective, Objective::kLeastEnergy);
  EXPECT_EQ(p->prefer_tier, Tier::kEdge);
  EXPECT_EQ(p->hedge, true);
  auto empty = ParsePolicyJson("{}");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, Policy{});
}

TEST(Policy, ParsesHeader) {
  auto p = ParsePolicyHeader(" latency_target_ms=50; residency=eu ;objective=cheapest; hedge=on;");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->latency_target_ms, 50.0);
  EXPECT_EQ(p->residency, "eu");
  EXPECT_EQ(p->objective, Objective::kCheapest);
  EXPECT_EQ(p->hedge, true);
  EXPECT_FALSE(p->prefer_tier.has_value());
  auto q = ParsePolicyHeader("hedge=off; prefer_tier=cloud; latency_target_ms=12.5");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->hedge, false);
  EXPECT_EQ(q->prefer_tier, Tier::kCloud);
  EXPECT_EQ(q->latency_target_ms, 12.5);
  ASSERT_TRUE(ParsePolicyHeader("").ok());
}

TEST(Policy, ErrorsNameTheField) {
  std::vector<ErrorCase> json = {
      {"[1]", "parameters: expected an object"},
      {"{", "parameters: invalid JSON"},
      {"", "parameters: invalid JSON"},
      {R"({"latency_target_ms":"fast"})", "parameters.latency_target_ms: expected a number"},
      {R"({"latency_target_ms":-5})", "parameters.latency_target_ms: must be between 0 and"},
      {R"({"latency_target_ms":0})", "parameters.latency_target_ms: must be a number of milliseconds > 0"},
      {R"({"residency":7})", "parameters.residency: expected a string"},
      {R"({"residency":""})", "parameters.residency: must not be empty"},
      {R"({"objective":"slowest"})",
       "parameters.objective: must be fastest, cheapest or least_energy, got 'slowest'"},
      {R"({"prefer_tier":"fog"})", "parameters.prefer_tier: must be device, edge or cloud, got 'fog'"},
      {R"({"hedge":"on"})", "parameters.hedge: expected true or false"},
  };
  for (const auto& c : json) {
    auto p = ParsePolicyJson(c.json);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_NE(p.status().message().find(c.message), std::string::npos) << p.status().message();
  }
  std::vector<ErrorCase> header = {
      {"latency_target_ms=abc", "X-Continuum-Policy: latency_target_ms: expected a number, got 'abc'"},
      {"latency_target_ms=", "X-Continuum-Policy: latency_target_ms: expected a number"},
      {"latency_target_ms=-1", "X-Continuum-Policy: latency_target_ms: must be a number of milliseconds > 0"},
      {"latency_target_ms=inf",
       "X-Continuum-Policy: latency_target_ms: must be a number of milliseconds > 0"},
      {"residency=", "X-Continuum-Policy: residency: must not be empty"},
      {"objective=best",
       "X-Continuum-Policy: objective: must be fastest, cheapest or least_energy, got 'best'"},
      {"prefer_tier=moon", "X-Continuum-Policy: prefer_tier: must be device, edge or cloud"},
      {"hedge=maybe", "X-Continuum-Policy: hedge: expected on or off, got 'maybe'"},
      {"speed=11", "X-Continuum-Policy: speed: unknown key"},
      {"hedge", "X-Continuum-Policy: hedge: expected key=value"},
      {"hedge=on; hedge=off", "X-Continuum-Policy: hedge: given twice"},
  };
  for (const auto& c : header) {
    auto p = ParsePolicyHeader(c.json);
    ASSERT_FALSE(p.ok()) << c.json;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.message), std::string::npos) << p.status().message();
  }
}

TEST(Policy, MergeOverridesOnlySetFields) {
  Policy base;
  base.latency_target_ms = 50;
  base.objective = Objective::kCheapest;
  base.residency = "eu";
  Policy over;
  over.objective = Objective::kFastest;
  over.hedge = true;
  Policy m = MergePolicy(base, over);
  EXPECT_EQ(m.latency_target_ms, 50.0);
  EXPECT_EQ(m.objective, Objective::kFastest);
  EXPECT_EQ(m.residency, "eu");
  EXPECT_EQ(m.hedge, true);
  EXPECT_EQ(PolicyToJson(m),
            R"({"latency_target_ms":50,"residency":"eu","objective":"fastest","hedge":true})");
}

}  // namespace
}  // namespace continuum::router
