#include <gtest/gtest.h>

#include <string>

#include "fleet/rollout/rollout.h"

namespace continuum::fleet {
namespace {

Rollout Sample() {
  RolloutStrategy s;
  s.batch_size = 2;
  Rollout r =
      StartRollout("add-sub", 3, "reg/models/add_sub@sha256:aa", "sha256:aa", "reg/models/add_sub@sha256:bb",
                   "sha256:bb", {"edge-1", "edge-2", "edge-3", "edge-\"4\""}, s, 1765000000000);
  r.batches[0].stale_since_ms = {{"edge-2", 1765000001000}};
  r.batches[0].last_failure_ms = 1765000002000;
  r.failed_nodes = {"edge-1"};
  r.baseline_error_rate = 0.012;
  r.baseline_p95_ms = 11.25;
  r.updated_ms = 1765000003000;
  return r;
}

TEST(RolloutJsonTest, RoundTrips) {
  Rollout r = Sample();
  std::string json = RolloutToJson(r);
  StatusOr<Rollout> back = ParseRollout(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(RolloutToJson(*back), json);

  Rollout first = StartRollout("d", 1, "", "", "p@sha256:cc", "sha256:cc", {}, RolloutStrategy{}, 5);
  StatusOr<Rollout> first_back = ParseRollout(RolloutToJson(first));
  ASSERT_TRUE(first_back.ok()) << first_back.status().ToString();
  EXPECT_EQ(*first_back, first);
  EXPECT_EQ(first_back->phase, RolloutPhase::kSucceeded);
}

// The JSON of Sample() with `from` replaced by `to` (once).
std::string Edited(std::string_view from, std::string_view to) {
  std::string json = RolloutToJson(Sample());
  size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) json.replace(at, from.size(), to);
  return json;
}

void ExpectError(const std::string& json, std::string_view message) {
  StatusOr<Rollout> r = ParseRollout(json);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
}

TEST(RolloutJsonTest, RefusesWhatIsNotARollout) {
  ExpectError("", "rollout: not valid JSON");
  ExpectError("[]", "rollout: expected an object");
  ExpectError(Edited("{\"schema_version\":1", "{\"schema_version\":2"),
              "schema_version: must be between 1 and 1");
  ExpectError(Edited("\"deployment\"", "\"extra\":1,\"deployment\""), "rollout: extra: unknown field");
  ExpectError(Edited("\"phase\":\"progressing\"", "\"phase\":\"paused\""), "phase: unknown 'paused'");
  ExpectError(Edited("\"state\":\"pending\"", "\"state\":\"done\""), "batches[1].state: unknown 'done'");
  ExpectError(Edited("\"state\":\"pending\"", "\"state\":\"in_progress\""),
              "batches[1].state: a second batch in progress");
  ExpectError(Edited("\"edge-3\"", "\"edge-1\""), "batches[1].nodes[0]: 'edge-1' is in more than one batch");
  ExpectError(Edited("\"nodes\":[\"edge-1\",", "\"nodes\":[1,"), "batches[0].nodes[0]: expected a string");
  ExpectError(Edited("\"to_digest\":\"sha256:bb\",", ""), "rollout: to_digest: required");
  ExpectError(Edited(",\"reason\":\"started\"", ""), "batches[0].reason: required");
  ExpectError(Edited("\"edge-2\":1765000001000", "\"edge-2\":-1"),
              "batches[0].stale_since_ms.edge-2: must be between");
  ExpectError(Edited("\"baseline_error_rate\":0.012", "\"baseline_error_rate\":2"),
              "baseline_error_rate: must be between");
  ExpectError(Edited("\"baseline_p95_ms\":11.25", "\"baseline_p95_ms\":null"),
              "baseline_p95_ms: expected a number");
  ExpectError(Edited("\"from_digest\":\"sha256:aa\"", "\"from_digest\":\"\""),
              "from_digest: from_package and");
}

TEST(RolloutJsonTest, EnforcesItsLimits) {
  std::string json = RolloutToJson(Sample());
  RolloutLimits small;
  small.max_json_bytes = json.size() - 1;
  StatusOr<Rollout> r = ParseRollout(json, small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPayloadTooLarge);
  RolloutLimits few;
  few.max_nodes = 3;
  r = ParseRollout(json, few);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("batches[1].nodes[1]: more than the limit of 3 nodes"),
            std::string::npos)
      << r.status().message();
  RolloutLimits short_strings;
  short_strings.max_string_bytes = 8;
  r = ParseRollout(json, short_strings);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("from_package: is 28 bytes, more than the limit of 8"),
            std::string::npos)
      << r.status().message();
}

StatusOr<RolloutStrategy> ParseStrategy(std::string_view json) {
  config::Reader r("deployment: ");
  StatusOr<config::Element> e = r.Parse(json);
  if (!e.ok()) return e.status();
  return ParseRolloutStrategy(r, *e, "rollout");
}

TEST(RolloutStrategyTest, ParsesDefaultsAndEveryField) {
  StatusOr<RolloutStrategy> d = ParseStrategy("{}");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, RolloutStrategy{});
  RolloutStrategy s;
  s.batch_size = 3;
  s.batch_percent = 25;
  s.min_success_ms = 1000;
  s.max_failures = 2;
  s.health_timeout_ms = 5000;
  s.max_error_rate_increase = 0.01;
  s.max_p95_increase = 0.25;
  s.min_requests = 100;
  std::string json;
  JsonWriter w(&json);
  WriteRolloutStrategy(w, s);
  StatusOr<RolloutStrategy> back = ParseStrategy(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
}

TEST(RolloutStrategyTest, RefusesBadFields) {
  auto error = [](std::string_view json) {
    StatusOr<RolloutStrategy> s = ParseStrategy(json);
    return s.ok() ? std::string("ok") : s.status().message();
  };
  EXPECT_EQ(error("[]"), "deployment: rollout: expected an object");
  EXPECT_NE(error(R"({"batch_sise": 2})").find("rollout.batch_sise: unknown field"), std::string::npos);
  EXPECT_EQ(error(R"({"batch_size": 0})"), "deployment: rollout.batch_size: must be between 1 and 1000000");
  EXPECT_EQ(error(R"({"batch_percent": 101})"),
            "deployment: rollout.batch_percent: must be between 0 and 100");
  EXPECT_EQ(error(R"({"max_error_rate_increase": 1.5})"),
            "deployment: rollout.max_error_rate_increase: must be between 0 and 1");
  EXPECT_EQ(error(R"({"min_requests": 0})"),
            "deployment: rollout.min_requests: must be between 1 and 1000000000000");
  EXPECT_EQ(error(R"({"health_timeout_ms": "1s"})"),
            "deployment: rollout.health_timeout_ms: expected an integer");
}

}  // namespace
}  // namespace continuum::fleet
