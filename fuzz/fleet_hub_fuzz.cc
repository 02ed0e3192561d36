// libFuzzer target for what the hub reads from outside (fleet/hub/model.cc): an agent's report
// (untrusted: any node may send one), the operator's deployment, and the hub's own stored records
// of both. Invariants: a report that parses writes back as JSON that parses to the same report; a
// deployment that parses is stored and read back unchanged; the node record round-trips; errors
// are InvalidArgument.
#include <cstdint>
#include <string>
#include <string_view>

#include "fleet/hub/internal.h"
#include "fuzz_check.h"

namespace {

using namespace continuum;
using namespace continuum::fleet;
using continuum::fuzz::Check;

void Report(std::string_view data) {
  auto r = hub::ParseNodeReport(data, 64);
  if (!r.ok()) {
    Check(r.status().code() == StatusCode::kInvalidArgument, "a bad report is InvalidArgument");
    return;
  }
  std::string json;
  JsonWriter w(&json);
  hub::WriteNodeReport(w, *r);
  auto again = hub::ParseNodeReport(json, 64);
  Check(again.ok(), "a written report parses");
  Check(*again == *r, "a written report parses to the same report");
  hub::NodeState n;
  n.name = "node";
  n.report = *r;
  auto doc = hub::ParseNodeDoc(hub::NodeDocJson(n), 64);
  Check(doc.ok() && doc->report == *r, "the node record round-trips");
  for (const auto& m : r->models) {
    hub::RecordSample(n, m, 1, 4);
    (void)hub::Observe(n, m.name, 0, true);
  }
}

void Deployment(std::string_view data) {
  auto d = hub::ParseDeploymentSpec(data, "", /*allow_unnamed=*/true);
  if (!d.ok()) {
    Check(d.status().code() == StatusCode::kInvalidArgument, "a bad deployment is InvalidArgument");
    return;
  }
  d->digest = "sha256:" + std::string(64, '0');
  auto back = hub::ParseDeploymentDoc(hub::DeploymentDocJson(*d));
  Check(back.ok(), "a stored deployment reads back");
  Check(hub::DeploymentDocJson(*back) == hub::DeploymentDocJson(*d),
        "a stored deployment reads back unchanged");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1)
    Deployment(in);
  else
    Report(in);
  return 0;
}
