// The C++ wrapper over the built libcontinuum.so: configuration errors, a local run on the
// generated add_sub model, a fallback from a dead cloud node to the device, residency failing
// closed, concurrent requests, and RAII moves.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "continuum/continuum.hpp"
#include "tls/test_server.h"

namespace {

using continuum::device::Client;
using continuum::device::Response;

// A repository holding only add_sub (a link to the generated model), made once.
std::string Repository() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/libcontinuum-test-XXXXXX";
    std::string d = mkdtemp(tmpl);
    std::filesystem::create_symlink(std::string(CONTINUUM_TEST_MODELS) + "/add_sub", d + "/add_sub");
    return d;
  }();
  return dir;
}

// The device node runs add_sub in-process; the cloud node's port is closed.
std::string Config() {
  return R"({"model_repository": ")" + Repository() + R"(",
    "intra_op_threads": 1, "request_timeout_ms": 5000,
    "topology": {"schema_version": 1, "residency_classes": ["eu", "us"],
      "nodes": [
        {"name": "phone", "url": "local://", "tier": "device", "jurisdiction": ["eu"],
         "models": [{"name": "add_sub", "versions": [1]}]},
        {"name": "cloud-us", "url": "http://127.0.0.1:1", "tier": "cloud", "jurisdiction": ["us"],
         "models": [{"name": "add_sub", "versions": [1]}]}],
      "links": [{"from": "gateway", "to": "phone", "rtt_ms": 0, "bandwidth_mbps": 100000},
                {"from": "gateway", "to": "cloud-us", "rtt_ms": 30, "bandwidth_mbps": 100}]}})";
}

std::string AddSubBody(float a, float b) {
  std::string x, y;
  for (int i = 0; i < 16; ++i) {
    x += (i ? "," : "") + std::to_string(a);
    y += (i ? "," : "") + std::to_string(b);
  }
  return R"({"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[)" + x +
         R"(]},{"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[)" + y + "]}]}";
}

constexpr const char* kInfer = "/v2/models/add_sub/infer";

TEST(LibContinuum, BadConfigsAreErrorsWithMessages) {
  struct Case {
    std::string config, expect;
  };
  const std::vector<Case> cases = {
      {"not json", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {"{}", "topology: is required"},
      {R"({"topology": 5})", "topology"},
      {R"({"topology": {"schema_version": 1, "nodes": []}, "colour": "red"})", "unknown key 'colour'"},
      {R"({"topology": {"schema_version": 1, "nodes": [{"name": "a", "url": "local://", "tier": "moon",
          "models": []}]}})",
       "tier"},
      {R"({"topology": "/nonexistent/topology.json"})", "/nonexistent/topology.json"},
      {R"({"topology": {"schema_version": 1, "nodes": []}, "request_timeout_ms": -1})", "request_timeout_ms"},
      {R"({"topology": {"schema_version": 1, "nodes": []}, "upstream_cert": "c.pem"})",
       "upstream_key: upstream_cert and upstream_key go together"},
      {R"({"upstream_ca": "/nonexistent/ca.pem", "topology": {"schema_version": 1, "nodes": [{"name": "a",
          "url": "https://a:1", "tier": "cloud", "models": []}]}})",
       "upstream TLS: CA file /nonexistent/ca.pem: cannot be read"},
  };
  for (const auto& c : cases) {
    auto client = Client::Open(c.config);
    ASSERT_FALSE(client.ok()) << c.config;
    EXPECT_NE(client.code(), CONTINUUM_OK);
    EXPECT_NE(client.message().find(c.expect), std::string::npos) << c.config << " -> " << client.message();
  }
  // The C API directly: NULL arguments, and the message freed by the caller.
  char* error = nullptr;
  continuum_handle* h = nullptr;
  EXPECT_EQ(continuum_open(nullptr, &h, &error), CONTINUUM_INVALID_ARGUMENT);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(h, nullptr);
  continuum_string_free(error);
  EXPECT_EQ(continuum_open("{}", nullptr, nullptr), CONTINUUM_INVALID_ARGUMENT);
  continuum_close(nullptr);
  continuum_response_free(nullptr);
}

TEST(LibContinuum, RunsLocallyFallsBackAndFailsClosed) {
  auto opened = Client::Open(Config());
  ASSERT_TRUE(opened.ok()) << opened.message();
  Client client = std::move(opened).value();
  EXPECT_FALSE(continuum::device::Version().empty());

  // Unconstrained: the device node, in-process.
  auto r = client.Post(kInfer, AddSubBody(1, 2));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status(), 200) << r->body();
  EXPECT_EQ(r->tier(), "device");
  EXPECT_EQ(r->node(), "phone");
  EXPECT_EQ(r->fallback_step(), "0");
  EXPECT_FALSE(r->reason().empty());
  EXPECT_EQ(r->content_type(), "application/json");
  EXPECT_NE(r->body().find(R"("name":"OUTPUT0")"), std::string_view::npos) << r->body();
  EXPECT_NE(r->body().find("[3,3,3,"), std::string_view::npos) << r->body();
  ASSERT_TRUE(r->header("X-CONTINUUM-NODE").has_value());  // case-insensitive
  EXPECT_EQ(*r->header("x-continuum-node"), "phone");

  // Prefer the cloud: its node is down, so the device serves as the first fallback.
  r = client.Post(kInfer, AddSubBody(1, 2), {{"X-Continuum-Policy", "prefer_tier=cloud"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status(), 200) << r->body();
  EXPECT_EQ(r->node(), "phone");
  EXPECT_EQ(r->fallback_step(), "1");

  // Residency only the (dead) cloud satisfies: an error, never the eu device.
  for (int i = 0; i < 3; ++i) {
    r = client.Post(kInfer, AddSubBody(1, 2), {{"X-Continuum-Policy", "residency=us"}});
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->status(), 503) << r->body();
    EXPECT_NE(r->node(), "phone");
    EXPECT_NE(r->tier(), "device");
    EXPECT_NE(r->body().find("error"), std::string_view::npos);
  }

  // The node's own errors and the gateway's come back as responses.
  r = client.Post(kInfer, R"({"inputs":[]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status(), 400);
  EXPECT_EQ(r->node(), "phone");
  r = client.Request("GET", "/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status(), 404);
  EXPECT_EQ(r->node(), "none");
  // A path that is not a request target is a call error.
  r = client.Request("POST", "no-slash");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.code(), CONTINUUM_INVALID_ARGUMENT);
  EXPECT_NE(r.message().find("no-slash"), std::string::npos);

  // Responses own their memory and move.
  auto kept = client.Post(kInfer, AddSubBody(5, 1));
  ASSERT_TRUE(kept.ok());
  Response moved = std::move(kept).value();
  Response other = std::move(moved);
  EXPECT_EQ(other.status(), 200);
  EXPECT_NE(other.body().find("[6,6,"), std::string_view::npos) << other.body();
  EXPECT_EQ(moved.get(), nullptr);
}

// An https:// node is reached with the upstream_* settings and its certificate verified: one
// that has expired is never used, and the answer says why.
TEST(LibContinuum, HttpsNodesAreVerified) {
  continuum::tls::testing::TlsServer good({}), expired({.leaf = "expired"});
  auto node = [](const std::string& name, const std::string& url, const std::string& residency) {
    return R"({"name": ")" + name + R"(", "url": ")" + url + R"(", "tier": "cloud", "jurisdiction": [")" +
           residency + R"("], "models": [{"name": "add_sub", "versions": [1]}]})";
  };
  auto opened =
      Client::Open(R"({"upstream_ca": ")" + continuum::tls::testing::Pem("ca") +
                   R"(", "topology": {"schema_version": 1, "nodes": [)" + node("good", good.Url(), "eu") +
                   "," + node("expired", expired.Url(), "us") + "]}}");
  ASSERT_TRUE(opened.ok()) << opened.message();
  Client client = std::move(opened).value();
  auto r = client.Post(kInfer, AddSubBody(1, 2), {{"X-Continuum-Policy", "residency=eu"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status(), 200) << r->body();
  EXPECT_EQ(r->node(), "good");
  EXPECT_EQ(r->body(), "anonymous");  // what the test server answers
  r = client.Post(kInfer, AddSubBody(1, 2), {{"X-Continuum-Policy", "residency=us"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status(), 503) << r->body();
  EXPECT_NE(r->body().find("certificate verify failed: certificate has expired"), std::string_view::npos)
      << r->body();
  EXPECT_EQ(expired.handshakes(), 0);
}

// What the gateway could not write on the wire is refused at the C API, naming the part.
TEST(LibContinuum, UnwritableHeadersMethodsAndPathsAreCallErrors) {
  auto opened = Client::Open(Config());
  ASSERT_TRUE(opened.ok()) << opened.message();
  const Client& client = opened.value();
  struct Case {
    std::string method, path;
    continuum::device::Headers headers;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"POST", kInfer, {{"X-Ok", "1"}, {"X-Evil", "a\r\nX-Injected: yes"}}, "headers[1]"},
      {"POST", kInfer, {{"X-Evil", "a\nb"}}, "control character 0x0a"},
      {"POST", kInfer, {{"X-Evil", "a\x7f"}}, "control character 0x7f"},
      {"POST", kInfer, {{"X-Evil", "a\x01"}}, "headers[0]"},
      {"POST", kInfer, {{"Bad Name", "v"}}, "not a token"},
      {"POST", kInfer, {{"X-A\r\nX-Injected", "yes"}}, "not a token"},
      {"POST", kInfer, {{"", "v"}}, "headers[0]"},
      {"PO ST", kInfer, {}, "method"},
      {"POST\r\nX-Injected: yes", kInfer, {}, "method"},
      {"POST", std::string(kInfer) + "\r\nX-Injected: yes", {}, "path"},
      {"POST", "/v2/models/add sub/infer", {}, "path"},
  };
  for (const auto& c : cases) {
    auto r = client.Request(c.method, c.path, AddSubBody(1, 2), c.headers);
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_EQ(r.code(), CONTINUUM_INVALID_ARGUMENT) << c.expect;
    EXPECT_NE(r.message().find(c.expect), std::string::npos) << r.message();
  }
  // HTAB is a valid value byte; an escaped CR LF in a path is six characters, not a line break.
  auto r = client.Post(kInfer, AddSubBody(1, 2), {{"X-Tab", "a\tb"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status(), 200) << r->body();
  r = client.Request("POST", "/accounts/x%0d%0aX-Injected:%20yes/ai/run/@cf/none", "{}");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->status(), 404) << r->body();
}

TEST(LibContinuum, ConcurrentRequests) {
  auto opened = Client::Open(Config());
  ASSERT_TRUE(opened.ok()) << opened.message();
  const Client& client = opened.value();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = client.Post(kInfer, AddSubBody(static_cast<float>(t), 1));
        if (r.ok() && r->status() == 200 && r->node() == "phone") good.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 40);
}

}  // namespace
