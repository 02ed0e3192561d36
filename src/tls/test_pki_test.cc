#include "tls/test_pki.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/test_temp_dir.h"

namespace continuum::tls::testing {
namespace {

X509* Read(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// X509_V_OK, or the verifier's error code, for `leaf_pem` against the CA `ca_pem` as a server
// named `host` (empty: no host check).
int Verify(const std::string& ca_pem, const std::string& leaf_pem, const std::string& host) {
  X509_STORE* store = X509_STORE_new();
  X509* ca = Read(ca_pem);
  X509_STORE_add_cert(store, ca);
  X509* leaf = Read(leaf_pem);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  if (!host.empty()) X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host.c_str(), host.size());
  const int ok = X509_verify_cert(ctx);
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_free(leaf);
  X509_free(ca);
  X509_STORE_free(store);
  return err;
}

TEST(TestPki, EachCertificateVerifiesOrFailsAsItsNameSays) {
  continuum::testing::TempDir dir("continuum-pki");
  ASSERT_TRUE(WriteTestPki(dir.path().string()).ok());
  const std::filesystem::path& root = dir.path();
  const std::string ca = Slurp(root / "ca.pem");
  EXPECT_EQ(Verify(ca, Slurp(root / "server.pem"), "localhost"), X509_V_OK);
  EXPECT_EQ(Verify(ca, Slurp(root / "server2.pem"), "localhost"), X509_V_OK);
  EXPECT_EQ(Verify(ca, Slurp(root / "client.pem"), ""), X509_V_OK);
  EXPECT_EQ(Verify(ca, Slurp(root / "expired.pem"), "localhost"), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(Verify(ca, Slurp(root / "not-yet-valid.pem"), "localhost"), X509_V_ERR_CERT_NOT_YET_VALID);
  EXPECT_EQ(Verify(ca, Slurp(root / "wrong-host.pem"), "localhost"), X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(Verify(ca, Slurp(root / "self-signed.pem"), "localhost"), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
  EXPECT_EQ(Verify(ca, Slurp(root / "other-ca-server.pem"), "localhost"),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(Verify(Slurp(root / "other-ca.pem"), Slurp(root / "other-ca-client.pem"), ""), X509_V_OK);
  EXPECT_EQ(Slurp(root / "server-chain.pem"), Slurp(root / "server.pem") + ca);
}

}  // namespace
}  // namespace continuum::tls::testing
