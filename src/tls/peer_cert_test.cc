#include "tls/peer_cert.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <ctime>
#include <filesystem>
#include <string>

#include "common/sha256.h"
#include "tls/test_pki.h"

namespace continuum::tls {
namespace {

// The DER encoding of a PEM certificate.
std::string Der(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (x == nullptr) return {};
  unsigned char* der = nullptr;
  const int n = i2d_X509(x, &der);
  X509_free(x);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

TEST(PeerCertTest, ReadsSubjectCommonNameFingerprintNamesAndExpiry) {
  testing::CertSpec spec;
  spec.common_name = "tenant-a";
  spec.organization = "continuum-tests";
  spec.dns_names = {"a.example", "b.example"};
  spec.ip_addresses = {"127.0.0.1"};
  auto ca = testing::MakeCa("test CA");
  ASSERT_TRUE(ca.ok());
  auto leaf = testing::MakeLeaf(&*ca, spec);
  ASSERT_TRUE(leaf.ok());
  const std::string der = Der(leaf->cert_pem);
  ASSERT_FALSE(der.empty());

  auto cert = ReadPeerCertificate(der);
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(cert->subject, "CN=tenant-a,O=continuum-tests");
  EXPECT_EQ(cert->common_name, "tenant-a");
  EXPECT_EQ(cert->sha256, Sha256Hex(der));
  EXPECT_EQ(cert->dns_names, (std::vector<std::string>{"a.example", "b.example"}));
  const int64_t year = 365LL * 24 * 3600;
  EXPECT_NEAR(static_cast<double>(cert->not_after), static_cast<double>(std::time(nullptr) + year), 600.0);
}

TEST(PeerCertTest, EscapesSubjectsAsRfc2253Asks) {
  testing::CertSpec spec;
  spec.common_name = "a,b+c";
  spec.organization = "Ünïcode";
  auto leaf = testing::MakeLeaf(nullptr, spec);
  ASSERT_TRUE(leaf.ok());
  auto cert = ReadPeerCertificate(Der(leaf->cert_pem));
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->subject, "CN=a\\,b\\+c,O=Ünïcode");
  EXPECT_EQ(cert->common_name, "a,b+c");
}

TEST(PeerCertTest, RefusesWhatIsNotOneWholeCertificate) {
  testing::CertSpec spec;
  spec.common_name = "x";
  auto leaf = testing::MakeLeaf(nullptr, spec);
  ASSERT_TRUE(leaf.ok());
  const std::string der = Der(leaf->cert_pem);
  EXPECT_FALSE(ReadPeerCertificate(std::string_view()).ok());
  EXPECT_FALSE(ReadPeerCertificate(std::string_view("not a certificate")).ok());
  EXPECT_FALSE(ReadPeerCertificate(std::string_view(der).substr(0, der.size() - 1)).ok());
  EXPECT_EQ(ReadPeerCertificate(der + "x").status().message(), "not a DER certificate: bytes follow it");
  EXPECT_FALSE(ReadPeerCertificate(static_cast<const x509_st*>(nullptr)).ok());
  // The outer length in a longer form than DER allows (BER): OpenSSL reads it, we refuse it.
  ASSERT_EQ(der.substr(0, 2), std::string("\x30\x82", 2));
  const std::string ber = std::string("\x30\x83\x00", 3) + der.substr(2);
  EXPECT_EQ(ReadPeerCertificate(ber).status().message(), "not a DER certificate: not in canonical DER form");
}

}  // namespace
}  // namespace continuum::tls
