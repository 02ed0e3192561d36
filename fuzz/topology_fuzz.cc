// libFuzzer target for the router topology document (router/topology.h), which `continuum gateway
// --hub` receives from the network (GET /api/v1/topology) and applies while routing
// (Router::SetTopology). Invariants: an error is InvalidArgument; a parsed topology is applied to
// a router that already routes (a node that stays, one that goes, one that comes) without a
// crash; every decision then names a node of the new topology, with its url; applying the first
// topology again restores its routing.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "router/router.h"

namespace {

using namespace continuum;
using namespace continuum::router;

using continuum::fuzz::Check;

constexpr std::string_view kStart = R"({"schema_version": 1, "nodes": [
  {"name": "a", "url": "http://a:1", "tier": "edge", "jurisdiction": ["eu"],
   "models": [{"name": "m", "versions": [1], "compute_ms": 2}]},
  {"name": "b", "url": "http://b:1", "tier": "cloud", "jurisdiction": ["us"],
   "models": [{"name": "m", "versions": [1, 2]}]}],
  "links": [{"from": "gateway", "to": "a", "rtt_ms": 3, "bandwidth_mbps": 100}]})";

void CheckDecision(const Topology& t, const Request& r, const StatusOr<Decision>& d) {
  if (!d.ok()) return;
  const Node* n = t.FindNode(d->choice);
  Check(n != nullptr, "the choice is a node of the topology in use");
  Check(n->url == d->url, "the decision carries the choice's url");
  Check(n->FindModel(r.model, r.version) != nullptr, "the choice holds the model");
  for (const auto& f : d->fallbacks) Check(t.FindNode(f) != nullptr, "fallbacks are nodes of the topology");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = ParseTopology(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) {
    Check(parsed.status().code() == StatusCode::kInvalidArgument, "errors are InvalidArgument");
    return 0;
  }
  auto start = ParseTopology(kStart);
  Check(start.ok(), "the starting topology parses");
  Router router(*start);
  router.ObserveCompute("a", "m", 5);
  router.ReportFailure("b");
  router.SetTopology(*parsed);
  auto now = router.topology();
  for (const auto& n : now->nodes) {
    for (const auto& m : n.models) {
      for (int64_t v : m.versions) {
        Request r;
        r.model = m.name;
        r.version = v;
        CheckDecision(*now, r, router.Decide(r));
        router.ObserveTransfer(n.name, 1000, 1);
        router.ObserveAnswer(n.name, 1, 2);
      }
    }
  }
  router.ObserveCompute("a", "m", 5);  // perhaps removed: ignored, never a crash
  router.SetTopology(*start);
  Request r;
  r.model = "m";
  r.version = 2;
  auto d = router.Decide(r);
  Check(d.ok() && d->choice == "b", "the first topology's routing is back");
  return 0;
}
