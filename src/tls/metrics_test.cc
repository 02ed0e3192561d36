#include "tls/metrics.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "telemetry/metrics.h"
#include "tls/test_pki.h"

namespace continuum::tls {
namespace {

namespace fs = std::filesystem;

class TlsMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/continuum-tls-metrics-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(testing::WriteTestPki(dir_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::shared_ptr<ServerContext> Load(const std::string& leaf) const {
    ServerTlsOptions o;
    o.cert_file = dir_ + "/" + leaf + ".pem";
    o.key_file = dir_ + "/" + leaf + ".key";
    o.reload_interval = std::chrono::milliseconds(0);
    auto sc = ServerContext::Load(o);
    EXPECT_TRUE(sc.ok()) << sc.status().ToString();
    return sc.ok() ? *sc : nullptr;
  }
  static bool Has(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
  }

  std::string dir_;
};

TEST_F(TlsMetricsTest, ExposesEachListenersHandshakesAndCertificateAndTheReloadsOfEachContextOnce) {
  auto shared = Load("server");
  auto other = Load("server2");
  ASSERT_TRUE(shared && other);
  auto pub = std::make_shared<HandshakeStats>();
  auto admin = std::make_shared<HandshakeStats>();
  auto grpc = std::make_shared<HandshakeStats>();
  telemetry::Registry registry;
  RegisterTlsMetrics(registry, {{"public", pub, shared}, {"admin", admin, shared}, {"other", grpc, other}});

  for (int i = 0; i < 3; ++i) HandshakeStats::Add(pub->ok);
  HandshakeStats::Add(pub->resumed);
  HandshakeStats::Add(pub->failed);
  HandshakeStats::Add(admin->timeout);
  ASSERT_TRUE(shared->Reload().ok());
  fs::remove(dir_ + "/server2.key");
  ASSERT_FALSE(other->Reload().ok());

  const std::string text = registry.Render();
  EXPECT_TRUE(Has(text, "# TYPE continuum_tls_handshakes_total counter")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_handshakes_total{listener="public",result="ok"} 3)")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_handshakes_total{listener="public",result="failed"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_handshakes_total{listener="public",result="timeout"} 0)")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_handshakes_total{listener="admin",result="timeout"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_resumed_handshakes_total{listener="public"} 1)")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_resumed_handshakes_total{listener="admin"} 0)")) << text;
  EXPECT_TRUE(Has(text, "# TYPE continuum_tls_certificate_expiry_timestamp_seconds gauge")) << text;
  ASSERT_GT(shared->certificate_not_after(), 0);
  EXPECT_TRUE(Has(text, R"(continuum_tls_certificate_expiry_timestamp_seconds{listener="admin"} )" +
                            std::to_string(shared->certificate_not_after())))
      << text;
  EXPECT_TRUE(Has(text, R"(continuum_tls_reloads_total{result="ok"} 1)")) << text;  // not 2: one context
  EXPECT_TRUE(Has(text, R"(continuum_tls_reloads_total{result="failed"} 1)")) << text;
}

}  // namespace
}  // namespace continuum::tls
