#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include "common/base64.h"
#include "signing/signing.h"

namespace continuum::signing {
namespace {

// Cheap scrypt for the tests that are not about the cost (cosign's default is 2^16).
constexpr ScryptParams kFast{1024, 8, 1};

std::unique_ptr<PrivateKey> NewKey() {
  auto key = PrivateKey::Generate();
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  return std::move(*key);
}

std::unique_ptr<PublicKey> PublicOf(const PrivateKey& key) {
  auto pem = key.PublicKeyPem();
  EXPECT_TRUE(pem.ok());
  auto pub = PublicKey::FromPem(*pem);
  EXPECT_TRUE(pub.ok()) << pub.status().ToString();
  return std::move(*pub);
}

// The JSON inside an encrypted key's PEM block.
std::string EncryptedJson(const std::string& pem) {
  size_t begin = pem.find('\n') + 1, end = pem.find("-----END");
  std::string b64;
  for (char c : pem.substr(begin, end - begin))
    if (c != '\n') b64.push_back(c);
  return Base64Decode(b64).value_or("");
}

TEST(KeysTest, EncryptedKeyRoundTripsAndSignsForItsPublicKey) {
  auto key = NewKey();
  auto pem = key->EncryptedPem("correct horse", kFast);
  ASSERT_TRUE(pem.ok()) << pem.status().ToString();
  EXPECT_EQ(pem->rfind("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n", 0), 0u);
  auto loaded = PrivateKey::FromPem(*pem, "correct horse");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto sig = (*loaded)->Sign("payload");
  ASSERT_TRUE(sig.ok());
  auto pub = PublicOf(*key);
  EXPECT_TRUE(pub->Verify("payload", *sig));
  EXPECT_FALSE(pub->Verify("payload!", *sig));
  EXPECT_FALSE(PublicOf(*NewKey())->Verify("payload", *sig));
}

TEST(KeysTest, EncryptedKeyIsCosignsJson) {
  auto pem = NewKey()->EncryptedPem("pw");  // cosign's default cost
  ASSERT_TRUE(pem.ok());
  std::string json = EncryptedJson(*pem);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(json).get(doc)) << json;
  EXPECT_EQ(std::string_view(doc["kdf"]["name"]), "scrypt");
  EXPECT_EQ(uint64_t(doc["kdf"]["params"]["N"]), 65536u);
  EXPECT_EQ(uint64_t(doc["kdf"]["params"]["r"]), 8u);
  EXPECT_EQ(uint64_t(doc["kdf"]["params"]["p"]), 1u);
  EXPECT_EQ(Base64Decode(std::string_view(doc["kdf"]["salt"]))->size(), 32u);
  EXPECT_EQ(std::string_view(doc["cipher"]["name"]), "nacl/secretbox");
  EXPECT_EQ(Base64Decode(std::string_view(doc["cipher"]["nonce"]))->size(), 24u);
  // Go's encoding/json field order, as go-securesystemslib writes it.
  EXPECT_EQ(json.rfind(R"({"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":")", 0), 0u)
      << json;
  EXPECT_TRUE(PrivateKey::FromPem(*pem, "pw").ok());
}

TEST(KeysTest, WrongPasswordIsRefused) {
  auto pem = NewKey()->EncryptedPem("right", kFast);
  ASSERT_TRUE(pem.ok());
  auto loaded = PrivateKey::FromPem(*pem, "wrong");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("wrong password"), std::string::npos) << loaded.status().message();
}

TEST(KeysTest, EmptyPasswordWorksAsCosignAllows) {
  auto pem = NewKey()->EncryptedPem("", kFast);
  ASSERT_TRUE(pem.ok());
  EXPECT_TRUE(PrivateKey::FromPem(*pem, "").ok());
  EXPECT_FALSE(PrivateKey::FromPem(*pem, "x").ok());
}

TEST(KeysTest, LegacyCosignPemTypeIsAccepted) {
  auto pem = NewKey()->EncryptedPem("pw", kFast);
  ASSERT_TRUE(pem.ok());
  std::string legacy = *pem;
  for (size_t at; (at = legacy.find("SIGSTORE")) != std::string::npos;) legacy.replace(at, 8, "COSIGN");
  EXPECT_TRUE(PrivateKey::FromPem(legacy, "pw").ok());
}

TEST(KeysTest, PlainPkcs8KeyIsAccepted) {
  auto key = NewKey();
  auto pem = key->Pkcs8Pem();
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  auto loaded = PrivateKey::FromPem(*pem, "ignored");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto sig = (*loaded)->Sign("x");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(PublicOf(*key)->Verify("x", *sig));
}

TEST(KeysTest, OtherCurvesAndPemTypesAreRefused) {
  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(p384, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, p384, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(p384);
  auto loaded = PrivateKey::FromPem(pem, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("not an ECDSA P-256 key"), std::string::npos);

  auto ec = PrivateKey::FromPem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "");
  ASSERT_FALSE(ec.ok());
  EXPECT_NE(ec.status().message().find("not a private key cosign writes"), std::string::npos);
  EXPECT_FALSE(PrivateKey::FromPem("not pem", "").ok());
  auto pub = NewKey()->PublicKeyPem();
  ASSERT_TRUE(pub.ok());
  EXPECT_FALSE(PrivateKey::FromPem(*pub, "").ok());
  auto pkcs8 = NewKey()->Pkcs8Pem();
  ASSERT_TRUE(pkcs8.ok());
  EXPECT_FALSE(PublicKey::FromPem(*pkcs8).ok());
}

TEST(KeysTest, ScryptCostAboveTheLimitIsRefused) {
  auto pem = NewKey()->EncryptedPem("pw", kFast);
  ASSERT_TRUE(pem.ok());
  KeyLimits limits;
  limits.max_scrypt_n = 512;
  auto loaded = PrivateKey::FromPem(*pem, "pw", limits);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("exceed the limits"), std::string::npos)
      << loaded.status().message();
  limits = {};
  limits.max_scrypt_memory_bytes = 1 << 20;  // 2^10 * 8 * 128 bytes needs just over 1 MiB
  EXPECT_FALSE(PrivateKey::FromPem(*pem, "pw", limits).ok());
  EXPECT_TRUE(PrivateKey::FromPem(*pem, "pw").ok());
}

TEST(KeysTest, DamagedCiphertextIsRefused) {
  auto pem = NewKey()->EncryptedPem("pw", kFast);
  ASSERT_TRUE(pem.ok());
  std::string json = EncryptedJson(*pem);
  size_t at = json.find("\"ciphertext\":\"") + 14;
  json[at] = json[at] == 'A' ? 'B' : 'A';
  std::string damaged = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + Base64Encode(json) +
                        "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
  EXPECT_FALSE(PrivateKey::FromPem(damaged, "pw").ok());
}

}  // namespace
}  // namespace continuum::signing
