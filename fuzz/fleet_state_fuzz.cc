// libFuzzer target for what an agent reads from outside: the hub's desired-state envelope
// (VerifyDesiredState with a fixed key, then the payload's strict parse), a desired-state payload
// on its own (ParseDesiredState) and the agent's state file (ParseAgentState). Each input is
// given to all three. Invariants: a payload that parses writes back (DesiredStateJson) to a
// document that parses to the same state, with targets sorted and one per model; a state file
// that parses writes back to one that parses to the same state; an envelope that verifies names
// the node it was verified for.
#include <cstdint>
#include <string>
#include <string_view>

#include "fleet/state/desired_state.h"
#include "fuzz_check.h"

namespace {

using namespace continuum;
using continuum::fuzz::Check;

// The seed corpus's envelopes are signed by this key (a test key, used nowhere else).
constexpr std::string_view kTestKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgomdcE7p+SKQIvbHg
DkbR4NGYaJ6wWtVtzIKcmQrafV+hRANCAAQ1WXJYT8BkzMt46yVWH6D350EblAqK
Aw1ki7WZsvsn829ckqM0Un9UPKUtpYs06n2+CDkZAF0+zksJZZAZNLOJ
-----END PRIVATE KEY-----
)";

const signing::PublicKey& HubKey() {
  static const std::unique_ptr<signing::PublicKey> key = [] {
    auto priv = signing::PrivateKey::FromPem(kTestKey, "");
    Check(priv.ok(), "the test key loads");
    auto pem = (*priv)->PublicKeyPem();
    Check(pem.ok(), "the test key has a public key");
    auto pub = signing::PublicKey::FromPem(*pem);
    Check(pub.ok(), "the public key loads");
    return std::move(*pub);
  }();
  return *key;
}

bool SameState(const fleet::DesiredState& a, const fleet::DesiredState& b) {
  return a.node == b.node && a.sequence == b.sequence && a.issued_ms == b.issued_ms &&
         a.expires_ms == b.expires_ms && a.targets == b.targets;
}

void CheckPayload(std::string_view input) {
  auto s = fleet::ParseDesiredState(input);
  if (!s.ok()) return;
  for (size_t i = 1; i < s->targets.size(); ++i)
    Check(s->targets[i - 1].model < s->targets[i].model, "targets sorted, one per model");
  auto back = fleet::ParseDesiredState(fleet::DesiredStateJson(*s));
  Check(back.ok(), "a parsed desired state writes back to one that parses");
  Check(back.ok() && SameState(*s, *back), "a desired state round-trips");
}

void CheckAgentState(std::string_view input) {
  auto s = fleet::ParseAgentState(input);
  if (!s.ok()) return;
  auto back = fleet::ParseAgentState(fleet::AgentStateJson(*s));
  Check(back.ok(), "a parsed agent state writes back to one that parses");
  Check(back.ok() && *back == *s, "an agent state round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto v = fleet::VerifyDesiredState(input, HubKey(), "edge-1");
  Check(!v.ok() || v->node == "edge-1", "a verified document names this node");
  CheckPayload(input);
  CheckAgentState(input);
  return 0;
}
