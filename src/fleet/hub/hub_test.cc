// The hub over its HTTP API, in-process, with a SQLite store in a temporary folder and a clock the
// test moves: registration, deployments pinned by digest, signed desired state, progressive
// rollout and rollback driven by reported metrics, plan, topology, service discovery, auth and
// refusals of bad input.
#include "fleet/hub/hub.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/test_temp_dir.h"
#include "fleet/hub/internal.h"
#include "fleet/state/desired_state.h"
#include "fleet/store/store.h"
#include "signing/signing.h"

namespace continuum::fleet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kOld = "sha256:" + std::string(64, 'a');
const std::string kNew = "sha256:" + std::string(64, 'b');
const std::string kRepo = "127.0.0.1:5000/models/add_sub";

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = signing::PrivateKey::Generate();
    ASSERT_TRUE(key.ok());
    auto pem = (*key)->PublicKeyPem();
    ASSERT_TRUE(pem.ok());
    public_key_ = std::move(signing::PublicKey::FromPem(*pem)).value();
    key_ = std::move(key).value();
    Open();
  }

  void Open(HubOptions o = {}) {
    hub_.reset();
    o.now_ms = [this] { return now_.load(); };
    o.admin_token = "admin-secret";
    o.agent_token = "agent-secret";
    o.stale_after_ms = 600000;
    o.resolve_tag = [this](const std::string& repo, const std::string& tag) -> StatusOr<std::string> {
      if (repo == kRepo && tags_.count(tag)) return tags_.at(tag);
      return NotFound("no tag " + tag);
    };
    auto store = OpenStore("sqlite:" + (dir_.path() / "hub.db").string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto key = signing::PrivateKey::FromPem(std::move(key_->Pkcs8Pem()).value(), "");
    ASSERT_TRUE(key.ok());
    auto hub = Hub::Create(std::move(store).value(), std::move(key).value(), o);
    ASSERT_TRUE(hub.ok()) << hub.status().message();
    hub_ = std::move(hub).value();
  }

  http::Response Call(const std::string& method, const std::string& target, std::string body = "",
                      const std::string& token = "") {
    http::Request req;
    req.method = method;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    req.query = q == std::string::npos ? "" : target.substr(q + 1);
    req.body = std::move(body);
    std::string t = token;
    if (t.empty())
      t = req.path.find("/report") != std::string::npos ||
                  req.path.find("/desired-state") != std::string::npos
              ? "agent-secret"
              : "admin-secret";
    if (t != "none") req.headers.emplace_back("authorization", "Bearer " + t);
    req.tls = tls_;
    auto promise = std::make_shared<std::promise<http::Response>>();
    auto future = promise->get_future();
    hub_->Handle(std::move(req), [promise](http::Response r) { promise->set_value(std::move(r)); });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << method << " " << target << ": no answer";
      return {};
    }
    return future.get();
  }

  // A report of `node` running add_sub at `digest` (ready), with cumulative counters.
  void Report(const std::string& node, const std::string& tier, const std::string& digest, bool ready = true,
              double success = 0, double failure = 0, const std::string& error = "") {
    std::string models;
    if (!digest.empty())
      models = R"({"name":"add_sub","digest":")" + digest + R"(","versions":[1],"ready":)" +
               (ready ? "true" : "false") + R"(,"error":")" + error + R"(","since_ms":)" +
               std::to_string(now_.load()) + R"(,"success":)" + std::to_string(success) + R"(,"failure":)" +
               std::to_string(failure) + R"(,"duration_buckets":[[0.01,)" +
               std::to_string(success + failure) + R"(],["+Inf",)" + std::to_string(success + failure) +
               "]]}";
    auto r =
        Call("POST", "/api/v1/nodes/" + node + "/report",
             R"({"schema_version":1,"address":"http://127.0.0.1:9)" + std::to_string(node.size()) +
                 R"(00","properties":[{"name":"tier","value":")" + tier +
                 R"("},{"name":"memory_gb","value":16},{"name":"jurisdiction","value":["eu"]}],"models":[)" +
                 models + "]}");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // The node's current desired state, verified with the hub's key.
  DesiredState Desired(const std::string& node) {
    auto r = Call("GET", "/api/v1/nodes/" + node + "/desired-state?after=0");
    if (r.status != 200) return {};
    auto s = VerifyDesiredState(r.body, *public_key_, node);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : DesiredState{};
  }

  std::string DigestOn(const std::string& node) {
    DesiredState s = Desired(node);
    return s.targets.empty() ? "" : s.targets[0].digest;
  }

  void Deploy(const std::string& package, const std::string& extra = "") {
    auto r = Call("PUT", "/api/v1/deployments/add-sub",
                  R"({"package":")" + package + R"(","constraint":"tier == edge")" + extra + "}");
    ASSERT_EQ(r.status, 200) << r.body;
  }

  void Tick() {
    Status st = hub_->Tick();
    ASSERT_TRUE(st.ok()) << st.message();
  }

  continuum::testing::TempDir dir_{"hub_test"};
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::shared_ptr<const http::TlsInfo> tls_;  // the connection agent calls claim to come over
  std::map<std::string, std::string> tags_{{"1", kOld}, {"2", kNew}};
  std::unique_ptr<signing::PrivateKey> key_;
  std::unique_ptr<signing::PublicKey> public_key_;
  std::unique_ptr<Hub> hub_;
};

TEST_F(HubTest, RegistersNodesAndIssuesSignedDesiredStateByConstraint) {
  Report("edge-1", "edge", "");
  Report("cloud-1", "cloud", "");
  Deploy(kRepo + ":1");
  Tick();
  DesiredState s = Desired("edge-1");
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_EQ(s.targets[0].digest, kOld);
  EXPECT_EQ(s.targets[0].package, kRepo + "@" + kOld);
  EXPECT_EQ(s.targets[0].model, "add_sub");
  EXPECT_GT(s.sequence, 0);
  EXPECT_GT(s.expires_ms, now_.load());
  // The cloud node does not match: no document at all (the long poll would wait).
  EXPECT_EQ(Call("GET", "/api/v1/nodes/cloud-1/desired-state?after=0").status, 304);
  // A second tick with nothing changed issues nothing new.
  Tick();
  EXPECT_EQ(Desired("edge-1").sequence, s.sequence);
  // The plan explains both.
  auto plan = Call("GET", "/api/v1/deployments/add-sub/plan");
  EXPECT_THAT(plan.body, HasSubstr("\"node\":\"cloud-1\",\"match\":false"));
  EXPECT_THAT(plan.body, HasSubstr("cloud"));
}

TEST_F(HubTest, RolloutMovesInBatchesThenSucceeds) {
  for (auto n : {"edge-1", "edge-2", "edge-3"}) Report(n, "edge", kOld);
  Deploy(kRepo + ":1", R"(,"rollout":{"batch_size":1,"min_success_ms":1000,"min_requests":1000})");
  Tick();
  EXPECT_EQ(DigestOn("edge-1"), kOld);  // the canary
  EXPECT_EQ(DigestOn("edge-2"), "");    // a first package: nothing before its batch
  now_ += 5000;
  Tick();  // every node already runs it and has for longer than min_success_ms: every batch passes
  for (auto n : {"edge-1", "edge-2", "edge-3"}) EXPECT_EQ(DigestOn(n), kOld) << n;
  EXPECT_THAT(Call("GET", "/api/v1/rollouts/add-sub").body, HasSubstr("\"phase\":\"succeeded\""));
  Deploy(kRepo + ":2", R"(,"rollout":{"batch_size":1,"min_success_ms":1000,"min_requests":1000})");
  Tick();
  EXPECT_EQ(DigestOn("edge-1"), kNew);  // the canary
  EXPECT_EQ(DigestOn("edge-2"), kOld);
  EXPECT_EQ(DigestOn("edge-3"), kOld);
  // The canary installs and stays healthy: the next batch starts.
  now_ += 100;
  Report("edge-1", "edge", kNew);
  Tick();
  now_ += 1500;
  Tick();
  EXPECT_EQ(DigestOn("edge-2"), kNew);
  EXPECT_EQ(DigestOn("edge-3"), kOld);
  for (auto n : {"edge-2", "edge-3"}) {
    now_ += 100;
    Report(n, "edge", kNew);
    Tick();
    now_ += 1500;
    Tick();
  }
  for (auto n : {"edge-1", "edge-2", "edge-3"}) EXPECT_EQ(DigestOn(n), kNew) << n;
  auto rollout = Call("GET", "/api/v1/rollouts/add-sub");
  EXPECT_THAT(rollout.body, HasSubstr("succeeded"));
  auto events = Call("GET", "/api/v1/events?limit=1000");
  EXPECT_THAT(events.body, HasSubstr("rollout_started"));
  EXPECT_THAT(events.body, HasSubstr("batch_started"));
}

TEST_F(HubTest, CanaryThatFailsItsHealthCheckIsRolledBackAndGoesNoFurther) {
  for (auto n : {"edge-1", "edge-2"}) Report(n, "edge", kOld);
  Deploy(kRepo + ":1", R"(,"rollout":{"batch_size":1,"min_success_ms":1000,"health_timeout_ms":5000})");
  Tick();
  now_ += 2000;
  Tick();
  Deploy(kRepo + ":2", R"(,"rollout":{"batch_size":1,"min_success_ms":1000,"health_timeout_ms":5000})");
  Tick();
  EXPECT_EQ(DigestOn("edge-1"), kNew);
  now_ += 100;
  Report("edge-1", "edge", kNew, /*ready=*/false, 0, 0, "model add_sub did not load");
  Tick();
  EXPECT_EQ(DigestOn("edge-1"), kOld);  // rolled back
  EXPECT_EQ(DigestOn("edge-2"), kOld);  // never saw the new package
  EXPECT_THAT(Call("GET", "/api/v1/rollouts/add-sub").body, HasSubstr("rolled_back"));
  EXPECT_THAT(Call("GET", "/api/v1/events?limit=1000").body, HasSubstr("rollback"));
  EXPECT_THAT(Call("GET", "/metrics").body, HasSubstr("continuum_hub_rollbacks_total 1"));
}

TEST_F(HubTest, ErrorRateRegressionRollsBack) {
  for (auto n : {"edge-1", "edge-2", "edge-3"}) Report(n, "edge", kOld, true, 0, 0);
  const std::string strategy =
      R"(,"rollout":{"batch_size":1,"min_success_ms":60000,"min_requests":50,"max_error_rate_increase":0.05})";
  Deploy(kRepo + ":1", strategy);
  Tick();
  now_ += 61000;
  Tick();
  ASSERT_THAT(Call("GET", "/api/v1/rollouts/add-sub").body, HasSubstr("\"phase\":\"succeeded\""));
  Deploy(kRepo + ":2", strategy);
  Tick();
  ASSERT_EQ(DigestOn("edge-1"), kNew);
  now_ += 100;
  Report("edge-1", "edge", kNew, true, 0, 0);
  Tick();
  // Old nodes: 1 % errors; the canary: 30 %.
  now_ += 5000;
  Report("edge-2", "edge", kOld, true, 990, 10);
  Report("edge-3", "edge", kOld, true, 990, 10);
  Report("edge-1", "edge", kNew, true, 70, 30);
  Tick();
  EXPECT_EQ(DigestOn("edge-1"), kOld);
  auto rollout = Call("GET", "/api/v1/rollouts/add-sub");
  EXPECT_THAT(rollout.body, HasSubstr("rolled_back"));
}

TEST_F(HubTest, DeletingADeploymentEmptiesItsNodes) {
  Report("edge-1", "edge", "");
  Deploy(kRepo + ":1");
  Tick();
  ASSERT_EQ(DigestOn("edge-1"), kOld);
  int64_t seq = Desired("edge-1").sequence;
  EXPECT_EQ(Call("DELETE", "/api/v1/deployments/add-sub").status, 200);
  Tick();
  DesiredState s = Desired("edge-1");
  EXPECT_GT(s.sequence, seq);
  EXPECT_TRUE(s.targets.empty());
}

TEST_F(HubTest, LongPollIsAnsweredWhenTheDocumentChanges) {
  Report("edge-1", "edge", "");
  hub_->Start();
  auto waiter = std::async(std::launch::async, [&] {
    return Call("GET", "/api/v1/nodes/edge-1/desired-state?after=0&wait_s=60");
  });
  Deploy(kRepo + ":1");  // wakes the driver
  http::Response r = waiter.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(VerifyDesiredState(r.body, *public_key_, "edge-1").ok());
  // Nothing newer: the poll ends with 304 once its wait is over (the clock moves on).
  int64_t seq = Desired("edge-1").sequence;
  auto second = std::async(std::launch::async, [&] {
    return Call("GET", "/api/v1/nodes/edge-1/desired-state?after=" + std::to_string(seq) + "&wait_s=5");
  });
  while (second.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) now_ += 1000;
  EXPECT_EQ(second.get().status, 304);
  hub_->Stop();
}

TEST_F(HubTest, StateSurvivesARestart) {
  Report("edge-1", "edge", "");
  Deploy(kRepo + ":1");
  Tick();
  int64_t seq = Desired("edge-1").sequence;
  Open();
  EXPECT_EQ(Desired("edge-1").sequence, seq);
  EXPECT_EQ(DigestOn("edge-1"), kOld);
  EXPECT_EQ(Call("GET", "/api/v1/deployments/add-sub").status, 200);
  Tick();  // nothing changed: no new document
  EXPECT_EQ(Desired("edge-1").sequence, seq);
}

TEST_F(HubTest, TopologyAndServiceDiscoveryFollowReports) {
  Report("edge-1", "edge", kOld);
  Report("cloud-1", "cloud", "");
  auto t = Call("GET", "/api/v1/topology", "", "none");
  ASSERT_EQ(t.status, 200);
  EXPECT_THAT(t.body, HasSubstr("\"name\":\"edge-1\""));
  EXPECT_THAT(t.body, HasSubstr("\"tier\":\"edge\""));
  EXPECT_THAT(t.body, HasSubstr("\"jurisdiction\":[\"eu\"]"));
  EXPECT_THAT(t.body, ::testing::Not(HasSubstr("cloud-1")));  // nothing ready there
  auto sd = Call("GET", "/api/v1/sd", "", "none");
  EXPECT_THAT(sd.body, HasSubstr("\"node\":\"cloud-1\""));
  EXPECT_THAT(sd.body, HasSubstr("\"targets\":[\"127.0.0.1:9"));
}

TEST_F(HubTest, RefusesBadInputAndMissingTokens) {
  EXPECT_EQ(Call("POST", "/api/v1/nodes/edge-1/report", "{}", "none").status, 401);
  EXPECT_EQ(Call("POST", "/api/v1/nodes/edge-1/report", "{}", "wrong").status, 401);
  auto r = Call("POST", "/api/v1/nodes/edge-1/report",
                R"({"schema_version":1,"models":[{"name":"m","digest":"x"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("models[0].digest"));
  r = Call("POST", "/api/v1/nodes/bad%name/report", R"({"schema_version":1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Call("PUT", "/api/v1/deployments/x", R"({"package":"r/x:1"})", "agent-secret").status, 401);
  r = Call("PUT", "/api/v1/deployments/x", R"({"package":")" + kRepo + R"(:1","constraint":"tier ==="})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("constraint"));
  r = Call("PUT", "/api/v1/deployments/x", R"({"package":")" + kRepo + R"(:9"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("cannot resolve the tag"));
  r = Call("PUT", "/api/v1/deployments/x", R"({"package":")" + kRepo + R"(:1","replicas":3})");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("replicas: unknown field"));
  EXPECT_EQ(Call("GET", "/api/v1/nodes/nobody/desired-state").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/nodes/edge-1/desired-state?after=x").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/nope").status, 404);
}

// With agent_cert_identity, an agent call must come over TLS with a verified client certificate
// whose CN is the node it acts for; the bearer token alone no longer names the node.
TEST_F(HubTest, AgentCertIdentityBindsEachNodeToItsCertificate) {
  HubOptions o;
  o.agent_cert_identity = true;
  Open(o);
  auto over = [this](bool verified, const std::string& cn) {
    auto info = std::make_shared<http::TlsInfo>();
    info->version = "TLSv1.3";
    info->client_verified = verified;
    info->client_common_name = cn;
    tls_ = info;
  };
  const std::string report = R"({"schema_version":1,"address":"http://127.0.0.1:9000"})";
  auto r = Call("POST", "/api/v1/nodes/edge-1/report", report);  // plain HTTP
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("a verified client certificate with CN=edge-1 is required"));
  over(false, "edge-1");  // a certificate that did not verify
  EXPECT_EQ(Call("POST", "/api/v1/nodes/edge-1/report", report).status, 403);
  over(true, "edge-2");
  r = Call("POST", "/api/v1/nodes/edge-1/report", report);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr("the client certificate is CN=edge-2, not CN=edge-1"));
  EXPECT_EQ(Call("GET", "/api/v1/nodes/edge-1/desired-state").status, 403);
  over(true, "edge-1");
  EXPECT_EQ(Call("POST", "/api/v1/nodes/edge-1/report", report).status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/nodes/edge-1/report", report, "wrong").status, 401);  // and the token
  auto nodes = Call("GET", "/api/v1/nodes");
  EXPECT_THAT(nodes.body, HasSubstr("edge-1"));
  EXPECT_THAT(nodes.body, Not(HasSubstr("edge-2")));
}

// Two replicas on one store: an operator's properties set through one are not lost when the
// other, holding an older copy of the node, stores the node's next report.
TEST_F(HubTest, ReplicasMergeNodeWritesInsteadOfOverwritingThem) {
  Open();
  Report("edge-1", "edge", "");
  auto open_replica = [this]() -> std::unique_ptr<Hub> {
    HubOptions o;
    o.now_ms = [this] { return now_.load(); };
    o.admin_token = "admin-secret";
    o.agent_token = "agent-secret";
    o.replica_id = "replica-b";
    auto store = OpenStore("sqlite:" + (dir_.path() / "hub.db").string());
    EXPECT_TRUE(store.ok()) << store.status().message();
    auto key = signing::PrivateKey::FromPem(std::move(key_->Pkcs8Pem()).value(), "");
    auto hub = Hub::Create(std::move(store).value(), std::move(key).value(), o);
    EXPECT_TRUE(hub.ok()) << hub.status().message();
    return hub.ok() ? std::move(hub).value() : nullptr;
  };
  std::unique_ptr<Hub> b = open_replica();  // reads edge-1 as it is now
  ASSERT_NE(b, nullptr);
  auto r = Call("PUT", "/api/v1/nodes/edge-1/properties", R"([{"name":"rack","value":"r7"}])");
  ASSERT_EQ(r.status, 200) << r.body;
  std::swap(hub_, b);  // the report reaches the other replica
  now_ += 1000;
  Report("edge-1", "cloud", "");
  std::swap(hub_, b);
  b.reset();
  std::unique_ptr<Hub> c = open_replica();  // what the store holds now
  ASSERT_NE(c, nullptr);
  std::swap(hub_, c);
  auto node = Call("GET", "/api/v1/nodes/edge-1");
  EXPECT_THAT(node.body, HasSubstr(R"("operator_properties":[{"name":"rack")")) << node.body;
  EXPECT_THAT(node.body, HasSubstr(R"("value":"cloud")")) << node.body;
  std::swap(hub_, c);
}

// When a model became ready is the hub's reading: the node's since_ms (its own clock, here an hour
// behind) is replaced by the hub's time of the first ready report for that digest, kept while the
// digest stays ready, and reset by a new digest.
TEST_F(HubTest, ReadySinceIsTheHubsClock) {
  Open();
  auto report = [this](const std::string& digest, bool ready) {
    const std::string body =
        R"({"schema_version":1,"address":"http://127.0.0.1:9000","models":[{"name":"add_sub","digest":")" +
        digest + R"(","versions":[1],"ready":)" + (ready ? "true" : "false") + R"(,"since_ms":)" +
        std::to_string(now_.load() - 3600000) + "}]}";
    auto r = Call("POST", "/api/v1/nodes/edge-1/report", body);
    ASSERT_EQ(r.status, 200) << r.body;
  };
  auto since = [this] {
    auto r = Call("GET", "/api/v1/nodes/edge-1");
    const size_t at = r.body.find("\"since_ms\":");
    return at == std::string::npos ? int64_t{-1} : std::stoll(r.body.substr(at + 11));
  };
  const std::string d1 = "sha256:" + std::string(64, '1'), d2 = "sha256:" + std::string(64, '2');
  report(d1, false);
  EXPECT_EQ(since(), 0);
  now_ += 1000;
  const int64_t ready_at = now_.load();
  report(d1, true);
  EXPECT_EQ(since(), ready_at);
  now_ += 5000;
  report(d1, true);  // still ready at the same digest
  EXPECT_EQ(since(), ready_at);
  now_ += 5000;
  report(d2, true);
  EXPECT_EQ(since(), now_.load());
}

// A deployment whose step fails at a tick (here a stored constraint that no longer parses; with
// several replicas, the store unreachable for a moment) leaves its nodes what they have: no new
// document without its model.
TEST_F(HubTest, AFailedDeploymentStepKeepsItsNodesTargets) {
  Report("edge-1", "edge", "");
  Deploy(kRepo + ":1");
  Tick();
  DesiredState before = Desired("edge-1");
  ASSERT_EQ(before.targets.size(), 1u);
  hub_.reset();
  {
    auto store = OpenStore("sqlite:" + (dir_.path() / "hub.db").string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto doc = (*store)->Get(DocKind::kDeployment, "add-sub");
    ASSERT_TRUE(doc.ok() && doc->has_value());
    std::string json = (*doc)->json;
    size_t at = json.find("tier == edge");
    ASSERT_NE(at, std::string::npos);
    json.replace(at, 12, "tier ==");
    ASSERT_TRUE((*store)->Put(DocKind::kDeployment, "add-sub", json, (*doc)->revision, now_).ok());
  }
  Open();
  EXPECT_FALSE(hub_->Tick().ok());
  DesiredState after = Desired("edge-1");
  EXPECT_EQ(after.sequence, before.sequence);
  EXPECT_EQ(after.targets, before.targets);
}

}  // namespace
}  // namespace continuum::fleet
