// The agent's loop against an in-process stand-in for the hub's two endpoints: registration,
// an applied document saved, a target that fails reported per model, replayed and foreign
// documents refused, and a restart that resumes from the state file. No registry and no serve:
// the failing target's registry is a closed loopback port.
#include "fleet/agent/agent.h"

#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <thread>

#include "common/test_temp_dir.h"
#include "http/server.h"
#include "signing/signing.h"

namespace continuum::fleet {
namespace {

namespace fs = std::filesystem;

constexpr char kNode[] = "edge-1";

class FakeHub {
 public:
  FakeHub() {
    http::ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    server_ = std::move(http::Server::Start(o, [this](http::Request&& r, http::Responder respond) {
                          respond(Handle(r));
                        }).value());
  }
  ~FakeHub() { server_->Stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  // The document the hub answers polls with, and its sequence; `always`: even when the agent
  // already has a higher one (a misbehaving hub).
  void SetDocument(std::string envelope, int64_t sequence, bool always = false) {
    std::lock_guard<std::mutex> l(mu_);
    envelope_ = std::move(envelope);
    sequence_ = sequence;
    always_ = always;
  }
  // Polls seen, with the `after` each asked with, and how many were answered with a document.
  std::vector<int64_t> polls() const {
    std::lock_guard<std::mutex> l(mu_);
    return polls_;
  }
  int64_t documents_sent() const {
    std::lock_guard<std::mutex> l(mu_);
    return documents_sent_;
  }
  // Down: every call is answered 503 (and counted).
  void SetDown(bool down) {
    std::lock_guard<std::mutex> l(mu_);
    down_ = down;
  }
  int64_t refused_calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return refused_calls_;
  }
  std::vector<std::string> reports() const {
    std::lock_guard<std::mutex> l(mu_);
    return reports_;
  }
  // True once a report holds every one of `parts`.
  bool Reported(const std::vector<std::string>& parts) const {
    for (const std::string& r : reports()) {
      bool all = true;
      for (const std::string& p : parts) all = all && r.find(p) != std::string::npos;
      if (all) return true;
    }
    return false;
  }

 private:
  http::Response Handle(const http::Request& r) {
    std::lock_guard<std::mutex> l(mu_);
    http::Response out;
    const std::string base = std::string("/api/v1/nodes/") + kNode;
    if (down_) {
      ++refused_calls_;
      return {503, "application/json", {}, R"({"error":"down for maintenance"})"};
    }
    if (r.method == "POST" && r.path == base + "/report") {
      reports_.push_back(r.body);
      out.body = "{\"sequence\":" + std::to_string(sequence_) + "}";
      return out;
    }
    if (r.method == "GET" && r.path == base + "/desired-state") {
      if (reports_.empty()) return {404, "application/json", {}, R"({"error":"unknown node"})"};
      const size_t at = r.query.find("after=");
      const int64_t after = std::stoll(r.query.substr(at + 6));
      polls_.push_back(after);
      if (envelope_.empty() || (!always_ && sequence_ <= after)) return {304, "application/json", {}, ""};
      ++documents_sent_;
      out.body = envelope_;
      return out;
    }
    return {404, "application/json", {}, R"({"error":"no such route"})"};
  }

  mutable std::mutex mu_;
  std::vector<std::string> reports_;
  std::vector<int64_t> polls_;
  int64_t documents_sent_ = 0;
  bool down_ = false;
  int64_t refused_calls_ = 0;
  std::string envelope_;
  int64_t sequence_ = 0;
  bool always_ = false;
  std::unique_ptr<http::Server> server_;
};

// Polls `done` until it holds (generous: the loop's own intervals are tens of milliseconds).
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 3000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class AgentLoopTest : public ::testing::Test {
 protected:
  AgentLoopTest() : dir_("fleet-agent-loop-") {
    key_ = std::move(signing::PrivateKey::Generate().value());
    other_ = std::move(signing::PrivateKey::Generate().value());
    std::ofstream(dir_.path() / "hub.pub") << key_->PublicKeyPem().value();
    std::ofstream(dir_.path() / "cosign.pub") << other_->PublicKeyPem().value();
    fs::create_directories(dir_.path() / "repo");
  }

  AgentOptions Options() const {
    AgentOptions o;
    o.hub.hub_url = hub_.url();
    o.hub.node = kNode;
    o.hub.request_timeout_ms = 10000;
    o.hub_key = dir_.path() / "hub.pub";
    o.package_key = dir_.path() / "cosign.pub";
    o.layout = dir_.path() / "layout";
    o.repository = dir_.path() / "repo";
    o.state_file = dir_.path() / "agent-state.json";
    o.registry_state_file = (dir_.path() / "blobs.tsv").string();
    o.registry_insecure = true;
    o.registry_retries = 0;
    o.registry_timeout_ms = 5000;
    o.address = "http://127.0.0.1:8000";
    o.properties_json = R"([{"name":"tier","type":"string","value":"edge"}])";
    o.report_interval_ms = 20;
    o.wait_s = 1;
    o.min_poll_interval_ms = 20;
    o.backoff_initial_ms = 20;
    o.backoff_max_ms = 100;
    o.retry_failed_ms = 60000;
    return o;
  }

  std::string Envelope(int64_t sequence, std::vector<Target> targets, const signing::PrivateKey& key,
                       int64_t expires_in_ms = 3600000) const {
    DesiredState s;
    s.node = kNode;
    s.sequence = sequence;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    s.issued_ms = now - 3600000;
    s.expires_ms = now + expires_in_ms;
    s.targets = std::move(targets);
    return SignDesiredState(s, key).value();
  }

  int64_t SavedSequence() const {
    auto s = LoadAgentState(dir_.path() / "agent-state.json");
    return s.ok() && s->has_value() ? (*s)->highest_sequence : -1;
  }

  testing::TempDir dir_;
  FakeHub hub_;
  std::unique_ptr<signing::PrivateKey> key_, other_;
};

// Runs an agent on its own thread until the end of the scope.
struct Running {
  explicit Running(AgentOptions o) : agent(std::move(o)), thread([this] { status = agent.Run(); }) {}
  ~Running() {
    agent.Stop();
    thread.join();
  }
  Agent agent;
  Status status;
  std::thread thread;
};

TEST_F(AgentLoopTest, RegistersAppliesRefusesAndResumes) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  {
    Running run(Options());
    ASSERT_TRUE(Eventually([&] {
      return hub_.Reported({R"("sequence":0)", R"("state":"ok")", R"("tier")"});
    }));
    // An empty document: applied, saved.
    hub_.SetDocument(Envelope(1, {}, *key_), 1);
    ASSERT_TRUE(Eventually([&] { return SavedSequence() == 1; }));
    ASSERT_TRUE(Eventually([&] { return hub_.Reported({R"("sequence":1)", R"("state":"ok")"}); }));
    // A target whose registry is a closed port: the document is applied, the model reports the
    // error, the node's state is "error".
    const Target t{"add_sub", "127.0.0.1:1/models/add_sub@" + digest, digest, "adds"};
    hub_.SetDocument(Envelope(2, {t}, *key_), 2);
    ASSERT_TRUE(Eventually([&] { return SavedSequence() == 2; }));
    ASSERT_TRUE(Eventually([&] {
      return hub_.Reported({R"("sequence":2)", R"("state":"error")", R"("name":"add_sub")", "pull of"});
    }));
    // A replayed document (sequence 1 again): refused, nothing saved.
    hub_.SetDocument(Envelope(1, {}, *key_), 1, /*always=*/true);
    ASSERT_TRUE(Eventually([&] { return hub_.Reported({"refused desired state 1: replay"}); }));
    EXPECT_EQ(SavedSequence(), 2);
    // Signed by another key: refused.
    hub_.SetDocument(Envelope(3, {}, *other_), 3);
    ASSERT_TRUE(Eventually([&] {
      return hub_.Reported({"refused desired state ?", "no signature verifies"});
    }));
    // Expired: refused as expired.
    hub_.SetDocument(Envelope(4, {}, *key_, -1000), 4);
    ASSERT_TRUE(Eventually([&] {
      return hub_.Reported({R"("state":"expired")", "refused desired state 4"});
    }));
    EXPECT_EQ(SavedSequence(), 2);
    // ... and the agent then asks for a document newer than the refused one, so the hub does
    // not send it again: more polls, no more documents.
    ASSERT_TRUE(Eventually([&] { return !hub_.polls().empty() && hub_.polls().back() == 4; }));
    const int64_t sent = hub_.documents_sent();
    const size_t polls = hub_.polls().size();
    ASSERT_TRUE(Eventually([&] { return hub_.polls().size() >= polls + 3; }));
    EXPECT_EQ(hub_.documents_sent(), sent);
    EXPECT_GT(run.agent.control_bytes_sent(), 0u);
    EXPECT_GT(run.agent.control_bytes_received(), 0u);
  }
  // A restart resumes from the state file: its first report already says sequence 2.
  const size_t before = hub_.reports().size();
  hub_.SetDocument("", 2);
  Running again(Options());
  ASSERT_TRUE(Eventually([&] { return hub_.reports().size() > before; }));
  EXPECT_NE(hub_.reports()[before].find(R"("sequence":2)"), std::string::npos) << hub_.reports()[before];
}

TEST_F(AgentLoopTest, AnOutageIsRetriedAndTheStateReportedAgainAfterIt) {
  hub_.SetDocument(Envelope(1, {}, *key_), 1);
  Running run(Options());
  ASSERT_TRUE(Eventually([&] { return SavedSequence() == 1; }));
  hub_.SetDown(true);
  ASSERT_TRUE(Eventually([&] { return hub_.refused_calls() >= 3; }));  // retried while down
  const size_t before = hub_.reports().size();
  hub_.SetDown(false);
  // Back: the agent reports at once (nothing changed, but the hub may have lost track of it) and
  // polls on from the sequence it had.
  ASSERT_TRUE(Eventually([&] { return hub_.reports().size() > before; }));
  EXPECT_NE(hub_.reports().back().find(R"("sequence":1)"), std::string::npos);
  ASSERT_TRUE(Eventually([&] { return !hub_.polls().empty() && hub_.polls().back() == 1; }));
  EXPECT_EQ(SavedSequence(), 1);
}

TEST_F(AgentLoopTest, CorruptStateFileStopsTheStart) {
  std::ofstream(dir_.path() / "agent-state.json") << "{not json";
  Agent agent(Options());
  Status st = agent.Run();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("agent-state.json"), std::string::npos) << st.message();
}

TEST_F(AgentLoopTest, StopEndsALoopThatCannotReachTheHub) {
  AgentOptions o = Options();
  o.hub.hub_url = "http://127.0.0.1:1";  // nothing listens there
  Running run(o);
  // Nothing to assert but that Stop() ends a loop that keeps failing: the destructor joins.
}

}  // namespace
}  // namespace continuum::fleet
