// HubTopologySource against a real http::Server playing the hub's topology endpoint.
#include "gateway/hub_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/test_temp_dir.h"
#include "http/server.h"
#include "router/router.h"
#include "telemetry/metrics.h"

namespace continuum::gateway {
namespace {

using namespace std::chrono_literals;

http::Response HubAnswer(int status, std::string body = "") {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string Doc(const std::string& node) {
  return R"({"schema_version": 1, "nodes": [{"name": ")" + node + R"(", "url": "http://)" + node +
         R"(:8000", "tier": "edge", "models": [{"name": "m", "versions": [1]}]}]})";
}

// Polls `cond` until it holds (true) or a generous time passed (false).
bool Eventually(const std::function<bool()>& cond) {
  for (int i = 0; i < 3000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

// GET /api/v1/topology with ETag and If-None-Match; a long poll whose ETag is current is held
// until the document changes (or the hub stops, answered 304).
class FakeHub {
 public:
  explicit FakeHub(uint16_t port = 0) {
    http::ServerOptions so;
    so.address = "127.0.0.1";
    so.port = port;
    auto s = http::Server::Start(
        so, [this](http::Request&& r, http::Responder w) { Handle(std::move(r), std::move(w)); });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) server_ = std::move(s).value();
  }
  ~FakeHub() { Stop(); }
  void Stop() {
    std::vector<http::Responder> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending.swap(pending_);
    }
    for (auto& w : pending) w(HubAnswer(304));
    if (server_) server_->Stop();
  }
  uint16_t port() const { return server_ ? server_->port() : 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  void Set(std::string doc, std::string etag) {
    std::vector<http::Responder> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      doc_ = std::move(doc);
      etag_ = "\"" + etag + "\"";
      pending.swap(pending_);
    }
    for (auto& w : pending) w(Current());
  }
  struct Seen {
    std::string query, if_none_match, authorization;
  };
  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  size_t waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }

 private:
  http::Response Current() {
    std::lock_guard<std::mutex> lock(mu_);
    http::Response r;
    r.body = doc_;
    r.headers.emplace_back("ETag", etag_);
    return r;
  }
  void Handle(http::Request&& r, http::Responder w) {
    if (r.path != "/api/v1/topology") return w(HubAnswer(404));
    auto header = [&r](const char* name) {
      const std::string* h = r.Header(name);
      return h ? *h : std::string();
    };
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back({r.query, header("if-none-match"), header("authorization")});
      if (doc_.empty()) return w(HubAnswer(503, R"({"error": "not ready"})"));
      if (header("if-none-match") == etag_) {
        pending_.push_back(std::move(w));
        return;
      }
    }
    w(Current());
  }

  mutable std::mutex mu_;
  std::string doc_, etag_;
  std::vector<Seen> seen_;
  std::vector<http::Responder> pending_;
  std::unique_ptr<http::Server> server_;
};

// Collects what the source applies.
struct Applied {
  std::mutex mu;
  std::vector<router::Topology> topologies;
  Status next_result;  // what apply answers
  ApplyTopology Fn() {
    return [this](router::Topology t) {
      std::lock_guard<std::mutex> lock(mu);
      if (!next_result.ok()) return next_result;
      topologies.push_back(std::move(t));
      return Status();
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return topologies.size();
  }
  std::string last_node() {
    std::lock_guard<std::mutex> lock(mu);
    return topologies.empty() || topologies.back().nodes.empty() ? "" : topologies.back().nodes[0].name;
  }
};

HubSourceOptions Options(const std::string& url) {
  HubSourceOptions o;
  o.url = url;
  o.backoff_initial = 5ms;
  o.backoff_max = 40ms;
  o.timeout = 5000ms;
  return o;
}

TEST(HubSource, FirstGetThenLongPollsWithTheETagAndAppliesEachChange) {
  testing::TempDir dir("hub-source-");
  const std::string token = (dir.path() / "token").string();
  std::ofstream(token) << "s3cret\n";
  FakeHub hub;
  hub.Set(Doc("a"), "v1");
  HubSourceOptions o = Options(hub.url());
  o.token_file = token;
  telemetry::Registry registry;
  o.metrics = &registry;
  auto source = HubTopologySource::Create(o);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  auto initial = (*source)->Initial();
  ASSERT_TRUE(initial.ok()) << initial.status().ToString();
  ASSERT_EQ(initial->nodes.size(), 1u);
  EXPECT_EQ(initial->nodes[0].name, "a");
  EXPECT_EQ((*source)->stats().origin, TopologyOrigin::kHub);
  EXPECT_EQ((*source)->stats().etag, "\"v1\"");

  Applied applied;
  (*source)->Start(applied.Fn());
  // The long poll is held at the hub: an unchanged topology (304 at the end of the wait) applies nothing.
  ASSERT_TRUE(Eventually([&] { return hub.waiting() == 1; }));
  EXPECT_EQ(applied.count(), 0u);
  hub.Set(Doc("b"), "v2");
  ASSERT_TRUE(Eventually([&] { return applied.count() == 1; }));
  EXPECT_EQ(applied.last_node(), "b");
  ASSERT_TRUE(Eventually([&] { return hub.waiting() == 1; }));
  (*source)->Stop();

  auto seen = hub.seen();
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen[0].query, "");
  EXPECT_EQ(seen[0].if_none_match, "");
  EXPECT_EQ(seen[1].query, "wait_s=30");
  EXPECT_EQ(seen[1].if_none_match, "\"v1\"");
  EXPECT_EQ(seen[2].if_none_match, "\"v2\"");
  for (const auto& s : seen) EXPECT_EQ(s.authorization, "Bearer s3cret");
  EXPECT_EQ((*source)->stats().applied, 2u);
  EXPECT_EQ((*source)->stats().errors, 0u);
  EXPECT_NE(registry.Render().find("continuum_gateway_topology_source{source=\"hub\"} 1"), std::string::npos);
}

TEST(HubSource, ABadDocumentIsCountedAndTheOldTopologyKept) {
  FakeHub hub;
  hub.Set(Doc("a"), "v1");
  telemetry::Registry registry;
  HubSourceOptions o = Options(hub.url());
  o.metrics = &registry;
  auto source = HubTopologySource::Create(o);
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->Initial().ok());
  Applied applied;
  (*source)->Start(applied.Fn());
  ASSERT_TRUE(Eventually([&] { return hub.waiting() == 1; }));
  hub.Set(R"({"schema_version": 1, "nodes": [{"name": "x"}]})", "v2");  // no url, no tier
  ASSERT_TRUE(Eventually([&] { return (*source)->stats().errors == 1; }));
  EXPECT_NE((*source)->stats().last_error.find("nodes[0]"), std::string::npos)
      << (*source)->stats().last_error;
  // The bad document's ETag is remembered: the source waits for the next change.
  ASSERT_TRUE(Eventually([&] { return hub.waiting() == 1; }));
  EXPECT_EQ(hub.seen().back().if_none_match, "\"v2\"");
  EXPECT_EQ(applied.count(), 0u);
  EXPECT_NE(registry.Render().find("continuum_gateway_hub_errors_total 1"), std::string::npos);

  // A document the gateway cannot apply (say a node's TLS files are missing) is refused the same way.
  {
    std::lock_guard<std::mutex> lock(applied.mu);
    applied.next_result = InvalidArgument("node c: tls: no such file");
  }
  hub.Set(Doc("c"), "v3");
  ASSERT_TRUE(Eventually([&] { return (*source)->stats().errors == 2; }));
  EXPECT_EQ(applied.count(), 0u);
  {
    std::lock_guard<std::mutex> lock(applied.mu);
    applied.next_result = Status();
  }
  ASSERT_TRUE(Eventually([&] { return hub.waiting() == 1; }));
  hub.Set(Doc("d"), "v4");
  ASSERT_TRUE(Eventually([&] { return applied.count() == 1; }));
  EXPECT_EQ(applied.last_node(), "d");
}

TEST(HubSource, HubDownIsRetriedWithBackoffUntilItAnswers) {
  uint16_t port = 0;
  {
    FakeHub reserve;
    port = reserve.port();
  }
  ASSERT_NE(port, 0);
  auto source = HubTopologySource::Create(Options("http://127.0.0.1:" + std::to_string(port)));
  ASSERT_TRUE(source.ok());
  (*source)->UseFile();  // routing with a --topology file meanwhile
  Applied applied;
  (*source)->Start(applied.Fn());
  ASSERT_TRUE(Eventually([&] { return (*source)->stats().errors >= 3; }));
  EXPECT_EQ((*source)->stats().origin, TopologyOrigin::kFile);
  EXPECT_EQ(applied.count(), 0u);

  FakeHub hub(port);
  ASSERT_EQ(hub.port(), port);
  hub.Set(Doc("b"), "v1");
  ASSERT_TRUE(Eventually([&] { return applied.count() == 1; }));
  EXPECT_EQ(applied.last_node(), "b");
  EXPECT_EQ((*source)->stats().origin, TopologyOrigin::kHub);
  // Recovered: the next call is a long poll again, not a retry.
  ASSERT_TRUE(Eventually([&] { return hub.waiting() == 1; }));
}

TEST(HubSource, TheCacheFileIsWrittenAndUsedAtStartWhenTheHubIsDown) {
  testing::TempDir dir("hub-cache-");
  const std::string cache = (dir.path() / "topology.json").string();
  uint16_t port = 0;
  {
    FakeHub hub;
    port = hub.port();
    hub.Set(Doc("a"), "v1");
    HubSourceOptions o = Options(hub.url());
    o.cache_file = cache;
    auto source = HubTopologySource::Create(o);
    ASSERT_TRUE(source.ok());
    ASSERT_TRUE((*source)->Initial().ok());
    std::stringstream text;
    text << std::ifstream(cache).rdbuf();
    EXPECT_EQ(text.str(), Doc("a"));
  }
  // The hub is gone: a restarted gateway starts from the cache.
  HubSourceOptions o = Options("http://127.0.0.1:" + std::to_string(port));
  o.cache_file = cache;
  auto source = HubTopologySource::Create(o);
  ASSERT_TRUE(source.ok());
  auto t = (*source)->Initial();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->nodes[0].name, "a");
  EXPECT_EQ((*source)->stats().origin, TopologyOrigin::kCache);
  // The topology it starts from routes.
  router::Router r(std::move(t).value());
  router::Request req;
  req.model = "m";
  EXPECT_TRUE(r.Decide(req).ok());

  // No cache (or a broken one): Unavailable, naming both.
  o.cache_file = (dir.path() / "missing.json").string();
  source = HubTopologySource::Create(o);
  ASSERT_TRUE(source.ok());
  auto none = (*source)->Initial();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(none.status().message().find("missing.json"), std::string::npos) << none.status().message();
}

TEST(HubSource, OptionsAreChecked) {
  auto bad = [](HubSourceOptions o) { return HubTopologySource::Create(o).status().message(); };
  EXPECT_NE(bad(Options("ftp://x")).find("hub url"), std::string::npos);
  HubSourceOptions o = Options("http://127.0.0.1:1");
  o.ca_file = "ca.pem";
  EXPECT_NE(bad(o).find("https://"), std::string::npos);
  o = Options("http://127.0.0.1:1");
  o.token_file = "/nonexistent/token";
  EXPECT_NE(bad(o).find("token file"), std::string::npos);
  o = Options("http://127.0.0.1:1");
  o.wait = 0s;
  EXPECT_NE(bad(o).find("wait"), std::string::npos);
}

}  // namespace
}  // namespace continuum::gateway
