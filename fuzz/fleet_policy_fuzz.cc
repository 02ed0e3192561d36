// libFuzzer target for the fleet's placement policy (fleet/policy): node properties in their JSON
// and command-line forms, and constraint expressions evaluated against them. The input's first
// line is a constraint (and a NAME=VALUE property argument), the rest a properties JSON array.
// Invariants: a constraint that does not parse says so as InvalidArgument "constraint: at N: ..."
// with N within the text; evaluating never fails, always gives a reason and gives the same answer
// twice; "not (C)" gives the opposite answer of C; properties that parse write back as JSON that
// parses to the same properties; a property argument that parses has a valid name.
#include <cstdint>
#include <string>
#include <string_view>

#include "fleet/policy/constraints.h"
#include "fleet/policy/plan.h"
#include "fleet/policy/properties.h"
#include "fuzz_check.h"

namespace {

using namespace continuum;
using namespace continuum::fleet;
using continuum::fuzz::Check;

void CheckParseError(const Status& s, std::string_view text) {
  Check(s.code() == StatusCode::kInvalidArgument, "a constraint error is InvalidArgument");
  std::string_view m = s.message();
  Check(m.substr(0, 15) == "constraint: at ", "a constraint error starts with its offset");
  size_t offset = 0, k = 15;
  for (; k < m.size() && m[k] >= '0' && m[k] <= '9'; ++k) offset = offset * 10 + (m[k] - '0');
  Check(k > 15 && k < m.size() && m[k] == ':', "a constraint error names a byte offset");
  Check(offset <= text.size(), "a constraint error's offset is within the text");
}

Properties RoundTrip(const Properties& p) {
  std::string json;
  JsonWriter w(&json);
  WriteProperties(w, p);
  auto again = ParsePropertiesJson(json);
  Check(again.ok(), "written properties parse");
  Check(*again == p, "written properties parse to the same properties");
  return *again;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view text = in.substr(0, nl);
  const std::string_view json = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  if (auto arg = ParsePropertyArg(text); arg.ok()) {
    Check(IsValidPropertyName(arg->first), "a property argument's name is valid");
    RoundTrip(Properties{{arg->first, arg->second}});
  }
  Properties props;
  if (auto p = ParsePropertiesJson(json); p.ok()) {
    props = RoundTrip(*p);
    for (const auto& [name, v] : props) Check(IsValidPropertyName(name), "a parsed name is valid");
  }

  auto c = Constraint::Parse(text);
  if (!c.ok()) {
    CheckParseError(c.status(), text);
    return 0;
  }
  Constraint::Result r = c->Evaluate(props);
  Check(!r.reason.empty(), "an evaluation gives a reason");
  Constraint::Result again = c->Evaluate(props);
  Check(r.match == again.match && r.reason == again.reason, "evaluating twice gives the same result");
  bool blank = text.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (!blank) {
    auto negated = Constraint::Parse("not (" + std::string(text) + ")");
    if (negated.ok()) Check(negated->Evaluate(props).match != r.match, "not (C) inverts C");
  }
  std::map<std::string, Properties> nodes{{"n", props}};
  std::vector<PlanRow> rows = Plan(*c, "eu", nodes);
  Check(rows.size() == 1 && !rows[0].reason.empty(), "a plan has a row with a reason per node");
  Check(!rows[0].match || r.match, "residency only removes nodes");
  return 0;
}
