#include "tls/server_context.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tls/test_pki.h"

namespace continuum::tls {
namespace {

namespace fs = std::filesystem;

class ServerContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/continuum-tls-context-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(testing::WriteTestPki(dir_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& text) const { std::ofstream(Path(name)) << text; }
  void Copy(const std::string& from, const std::string& to) const {
    fs::copy_file(Path(from), Path(to), fs::copy_options::overwrite_existing);
  }
  ServerTlsOptions Options(const std::string& cert = "server.pem",
                           const std::string& key = "server.key") const {
    ServerTlsOptions o;
    o.cert_file = Path(cert);
    o.key_file = Path(key);
    o.reload_interval = std::chrono::milliseconds(0);
    return o;
  }
  // Load's error message, or "" when it loaded.
  std::string LoadError(const ServerTlsOptions& o) const {
    auto sc = ServerContext::Load(o);
    return sc.ok() ? std::string() : sc.status().message();
  }

  // notAfter of the first certificate of a PEM file in unix seconds, as OpenSSL counts from the epoch.
  int64_t NotAfter(const std::string& name) const {
    FILE* f = std::fopen(Path(name).c_str(), "r");
    if (f == nullptr) return -1;
    X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (x == nullptr) return -1;
    ASN1_TIME* epoch = ASN1_TIME_set(nullptr, 0);
    int days = 0, secs = 0;
    const int ok = ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x));
    ASN1_TIME_free(epoch);
    X509_free(x);
    return ok == 1 ? int64_t{days} * 86400 + secs : -1;
  }

  std::string dir_;
};

TEST_F(ServerContextTest, LoadsACertificateWithItsChainAndKey) {
  auto sc = ServerContext::Load(Options("server-chain.pem"));
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  ASSERT_NE((*sc)->Current(), nullptr);
  EXPECT_EQ((*sc)->generation(), 0u);
}

TEST_F(ServerContextTest, BadFilesGiveErrorsNamingTheFileAndTheProblem) {
  std::string e = LoadError(Options("missing.pem"));
  EXPECT_NE(e.find("--tls-cert " + Path("missing.pem") + ": cannot read"), std::string::npos) << e;
  Write("garbage.pem", "this is not a certificate\n");
  e = LoadError(Options("garbage.pem"));
  EXPECT_NE(e.find("--tls-cert " + Path("garbage.pem") + ": no PEM certificate"), std::string::npos) << e;
  e = LoadError(Options("server.pem", "missing.key"));
  EXPECT_NE(e.find("--tls-key " + Path("missing.key") + ": cannot read"), std::string::npos) << e;
  e = LoadError(Options("server.pem", "server.pem"));
  EXPECT_NE(e.find("--tls-key " + Path("server.pem") + ": no PEM private key"), std::string::npos) << e;
  e = LoadError(Options("server.pem", "server2.key"));
  EXPECT_NE(e.find("the key does not match the certificate in " + Path("server.pem")), std::string::npos)
      << e;

  ServerTlsOptions o = Options();
  o.client_auth = ClientAuth::kRequire;
  o.client_ca_file = Path("missing-ca.pem");
  e = LoadError(o);
  EXPECT_NE(e.find("--tls-client-ca " + Path("missing-ca.pem") + ": cannot read"), std::string::npos) << e;
  o.client_ca_file = Path("garbage.pem");
  e = LoadError(o);
  EXPECT_NE(e.find("--tls-client-ca " + Path("garbage.pem") + ": no PEM certificate"), std::string::npos)
      << e;
}

TEST_F(ServerContextTest, OutOfValidityCertificatesStillLoad) {
  EXPECT_EQ(LoadError(Options("expired.pem", "expired.key")), "");
  EXPECT_EQ(LoadError(Options("not-yet-valid.pem", "not-yet-valid.key")), "");
}

TEST_F(ServerContextTest, IncoherentOptionsAreRefused) {
  ServerTlsOptions o;
  EXPECT_TRUE(o.Check().ok());
  o.key_file = "k";
  EXPECT_EQ(o.Check().message(), "--tls-key needs --tls-cert");
  o = ServerTlsOptions();
  o.client_ca_file = "ca";
  EXPECT_EQ(o.Check().message(), "--tls-client-ca needs --tls-cert");
  o = Options();
  o.key_file.clear();
  EXPECT_EQ(o.Check().message(), "--tls-cert needs --tls-key");
  o = Options();
  o.client_auth = ClientAuth::kOptional;
  EXPECT_EQ(o.Check().message(), "--tls-client-auth optional needs --tls-client-ca");
  EXPECT_FALSE(ParseClientAuth("sometimes").ok());
  for (auto a : {ClientAuth::kNone, ClientAuth::kOptional, ClientAuth::kRequire})
    EXPECT_EQ(*ParseClientAuth(ClientAuthName(a)), a);
}

TEST_F(ServerContextTest, AFailedReloadKeepsTheCurrentContext) {
  Copy("server.pem", "cert.pem");
  Copy("server.key", "key.pem");
  auto sc = ServerContext::Load(Options("cert.pem", "key.pem"));
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  const auto first = (*sc)->Current();
  EXPECT_FALSE((*sc)->ReloadIfChanged()) << "nothing changed";

  Copy("server2.key", "key.pem");  // the certificate not yet
  EXPECT_FALSE((*sc)->ReloadIfChanged());
  EXPECT_EQ((*sc)->Current(), first);
  EXPECT_FALSE((*sc)->Reload().ok());
  EXPECT_EQ((*sc)->Current(), first);

  Copy("server2.pem", "cert.pem");
  EXPECT_TRUE((*sc)->ReloadIfChanged());
  EXPECT_NE((*sc)->Current(), first);
  EXPECT_EQ((*sc)->generation(), 1u);
  EXPECT_FALSE((*sc)->ReloadIfChanged());
}

TEST_F(ServerContextTest, TracksTheServedCertificatesExpiryAndCountsReloadsByOutcome) {
  Copy("server.pem", "cert.pem");
  Copy("server.key", "key.pem");
  auto sc = ServerContext::Load(Options("cert.pem", "key.pem"));
  ASSERT_TRUE(sc.ok()) << sc.status().ToString();
  ASSERT_GT(NotAfter("server.pem"), 0);
  EXPECT_EQ((*sc)->certificate_not_after(), NotAfter("server.pem"));
  EXPECT_EQ((*sc)->reloads_ok(), 0u);
  EXPECT_EQ((*sc)->reloads_failed(), 0u);

  Copy("expired.pem", "cert.pem");  // the key not yet: the reload fails and the expiry stays
  EXPECT_FALSE((*sc)->Reload().ok());
  EXPECT_EQ((*sc)->reloads_failed(), 1u);
  EXPECT_EQ((*sc)->certificate_not_after(), NotAfter("server.pem"));

  Copy("expired.key", "key.pem");
  EXPECT_TRUE((*sc)->ReloadIfChanged());
  EXPECT_EQ((*sc)->reloads_ok(), 1u);
  EXPECT_EQ((*sc)->reloads_failed(), 1u);
  ASSERT_NE(NotAfter("expired.pem"), NotAfter("server.pem"));
  EXPECT_EQ((*sc)->certificate_not_after(), NotAfter("expired.pem"));
}

TEST_F(ServerContextTest, ReloadAllReloadsEveryLiveContext) {
  auto a = ServerContext::Load(Options());
  auto b = ServerContext::Load(Options("server2.pem", "server2.key"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ServerContext::ReloadAll(), 0);
  EXPECT_EQ((*a)->generation(), 1u);
  EXPECT_EQ((*b)->generation(), 1u);
  fs::remove(Path("server2.key"));
  EXPECT_EQ(ServerContext::ReloadAll(), 1);
  EXPECT_EQ((*a)->generation(), 2u);
}

}  // namespace
}  // namespace continuum::tls
