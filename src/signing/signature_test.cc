#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>

#include "common/base64.h"
#include "common/test_temp_dir.h"
#include "packages/digest.h"
#include "packages/layout.h"
#include "packages/package.h"
#include "signing/signing.h"

namespace continuum::signing {
namespace {

namespace fs = std::filesystem;
const std::string kDigest = "sha256:" + std::string(64, 'a');
constexpr ScryptParams kFast{1024, 8, 1};

TEST(PayloadTest, IsCosignsBytes) {
  auto p = SimpleSigningPayload("localhost:5000/models/add_sub", kDigest, {});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, R"({"critical":{"identity":{"docker-reference":"localhost:5000/models/add_sub"},)"
                R"("image":{"docker-manifest-digest":")" +
                    kDigest + R"("},"type":"cosign container image signature"},"optional":null})");
}

TEST(PayloadTest, AnnotationsAreSortedAndEscapedAsGoDoes) {
  auto p = SimpleSigningPayload("r.io/m", kDigest,
                                {{"z", "x<y&z>\"q\"\\"}, {"a", "line\nbreak\x01 \xe2\x80\xa8 caf\xc3\xa9"}});
  ASSERT_TRUE(p.ok());
  std::string optional = p->substr(p->find(R"("optional":)"));
  EXPECT_EQ(optional,
            R"("optional":{"a":"line\nbreak\u0001 \u2028 café","z":"x\u003cy\u0026z\u003e\"q\"\\"}})");
  auto bad = SimpleSigningPayload("r.io/m", kDigest, {{"k", "\xff"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not UTF-8"), std::string::npos);
}

TEST(SignatureManifestTest, ConfigAndManifestAreWhatCosignWrites) {
  SignatureLayer l{
      "sha256:" + std::string(64, 'b'), 233, "MEUC", {{std::string(kSignatureAnnotation), "MEUC"}}};
  std::string config = SignatureConfig({l});
  EXPECT_EQ(config, R"({"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":)"
                    R"("0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[")" +
                        l.digest + R"("]},"config":{}})");
  EXPECT_EQ(SignatureManifest(config, {l}),
            R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)"
            R"({"mediaType":"application/vnd.oci.image.config.v1+json","size":)" +
                std::to_string(config.size()) + R"(,"digest":")" + packages::DigestOf(config) +
                R"("},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":233,)"
                R"("digest":")" +
                l.digest + R"(","annotations":{"dev.cosignproject.cosign/signature":"MEUC"}}]})");
}

class SignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto writer = packages::LayoutWriter::Open(layout());
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    for (const char* tag : {"1", "2"}) {
      std::string manifest =
          std::string(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)") +
          R"("config":{},"layers":[],"annotations":{"t":")" + tag + "\"}}";
      ASSERT_TRUE((*writer)->Tag(manifest, packages::kManifestMediaType, tag).ok());
      digests_[tag] = packages::DigestOf(manifest);
    }
    key_ = Key("cosign");
    other_ = Key("other");
  }

  fs::path layout() const { return dir_.path() / "layout"; }

  std::unique_ptr<PrivateKey> Key(const std::string& name) {
    auto key = PrivateKey::Generate();
    EXPECT_TRUE(key.ok());
    auto pub = (*key)->PublicKeyPem();
    EXPECT_TRUE(pub.ok());
    std::ofstream(dir_.path() / (name + ".pub")) << *pub;
    return std::move(*key);
  }

  StatusOr<std::vector<VerifiedSignature>> Verify(const std::string& tag, const std::string& key = "cosign") {
    return VerifySignatures(layout(), digests_[tag], dir_.path() / (key + ".pub"));
  }

  std::string SignatureManifestBytes(const std::string& tag) {
    auto m = packages::ReadTaggedManifest(layout(), packages::SignatureTag(digests_[tag]));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? m->bytes : "";
  }

  void TagSignature(const std::string& tag, const std::string& manifest) {
    auto writer = packages::LayoutWriter::Open(layout());
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(
        (*writer)->Tag(manifest, packages::kManifestMediaType, packages::SignatureTag(digests_[tag])).ok());
  }

  testing::TempDir dir_{"signing_test"};
  std::map<std::string, std::string> digests_;
  std::unique_ptr<PrivateKey> key_, other_;
};

TEST_F(SignTest, SignedPackageVerifies) {
  SignOptions options;
  options.annotations = {{"build", "42"}};
  auto s = SignPackage(layout(), "1", "localhost:5000/models/m", *key_, options);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->manifest_digest, digests_["1"]);
  EXPECT_EQ(s->signature_tag, "sha256-" + digests_["1"].substr(7) + ".sig");
  EXPECT_EQ(s->signatures, 1u);
  auto good = Verify("1");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  ASSERT_EQ(good->size(), 1u);
  EXPECT_EQ((*good)[0].docker_reference, "localhost:5000/models/m");
  EXPECT_EQ((*good)[0].annotations.at("build"), "42");
  EXPECT_TRUE(VerifyPackageSignature(layout(), digests_["1"], dir_.path() / "cosign.pub").ok());
  // The stored payload is exactly SimpleSigningPayload's bytes.
  auto payload = packages::ReadBlobBytes(layout(), (*good)[0].payload_digest, 1 << 20);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, *SimpleSigningPayload("localhost:5000/models/m", digests_["1"], options.annotations));
}

TEST_F(SignTest, SigningAgainAppendsALayer) {
  ASSERT_TRUE(SignPackage(layout(), "1", "r.io/m", *key_).ok());
  auto second = SignPackage(layout(), "1", "r.io/m", *other_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->signatures, 2u);
  simdjson::dom::parser parser;
  std::string manifest = SignatureManifestBytes("1");
  EXPECT_EQ(simdjson::dom::array(parser.parse(manifest)["layers"]).size(), 2u);
  auto by_key = Verify("1");
  ASSERT_TRUE(by_key.ok());
  EXPECT_EQ(by_key->size(), 1u);
  EXPECT_TRUE(Verify("1", "other").ok());
  // The other tags of the layout are kept.
  auto entries = packages::ListLayout(layout());
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 3u);
}

TEST_F(SignTest, UnsignedIsNotFound) {
  auto r = Verify("1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message().rfind("unsigned: ", 0), 0u) << r.status().message();
}

TEST_F(SignTest, AnotherKeysSignatureIsRefused) {
  ASSERT_TRUE(SignPackage(layout(), "1", "r.io/m", *other_).ok());
  auto r = Verify("1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.status().message().rfind("signed, but not by ", 0), 0u) << r.status().message();
}

TEST_F(SignTest, SignatureOverAnotherDigestIsRefused) {
  ASSERT_TRUE(SignPackage(layout(), "1", "r.io/m", *key_).ok());
  TagSignature("2", SignatureManifestBytes("1"));  // package 1's signature under package 2's tag
  auto r = Verify("2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("covers " + digests_["1"] + ", not " + digests_["2"]),
            std::string::npos)
      << r.status().message();
}

TEST_F(SignTest, TamperedPayloadIsRefused) {
  ASSERT_TRUE(SignPackage(layout(), "1", "r.io/m", *key_).ok());
  std::string manifest = SignatureManifestBytes("1");
  simdjson::dom::parser parser;
  std::string old_digest(std::string_view(parser.parse(manifest)["layers"].at(0)["digest"]));
  auto payload = packages::ReadBlobBytes(layout(), old_digest, 1 << 20);
  ASSERT_TRUE(payload.ok());
  std::string tampered = *payload;
  tampered.replace(tampered.find("r.io/m"), 6, "r.io/x");
  auto writer = packages::LayoutWriter::Open(layout());
  ASSERT_TRUE(writer.ok());
  auto new_digest = (*writer)->PutBytes(tampered);
  ASSERT_TRUE(new_digest.ok());
  writer.value().reset();  // the lock, before TagSignature takes it
  manifest.replace(manifest.find(old_digest), old_digest.size(), *new_digest);
  TagSignature("1", manifest);
  auto r = Verify("1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("signed, but not by ", 0), 0u) << r.status().message();
}

TEST_F(SignTest, MalformedSignaturesAreInvalidArgument) {
  ASSERT_TRUE(SignPackage(layout(), "1", "r.io/m", *key_).ok());
  std::string good = SignatureManifestBytes("1");
  auto expect_malformed = [&](const std::string& manifest, const std::string& says) {
    TagSignature("1", manifest);
    auto r = Verify("1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("malformed signature ", 0), 0u) << r.status().message();
    EXPECT_NE(r.status().message().find(says), std::string::npos) << r.status().message();
  };
  std::string no_sig = good;
  no_sig.replace(no_sig.find(kSignatureAnnotation), kSignatureAnnotation.size(), "x");
  expect_malformed(no_sig, "no base64 dev.cosignproject.cosign/signature");
  std::string wrong_type = good;
  wrong_type.replace(wrong_type.find(kSimpleSigningMediaType), kSimpleSigningMediaType.size(), "text/plain");
  expect_malformed(wrong_type, "has media type 'text/plain'");
  expect_malformed(R"({"schemaVersion":2,"layers":[]})", "it has no layers");
  expect_malformed("not json", "not an image manifest");
  std::string missing_blob = good;
  std::string blob = "sha256:" + std::string(64, 'c');
  size_t at = missing_blob.find("sha256:", missing_blob.find("\"layers\""));
  missing_blob.replace(at, blob.size(), blob);
  expect_malformed(missing_blob, "its payload");
}

TEST_F(SignTest, KeyProblemsAreReported) {
  ASSERT_TRUE(SignPackage(layout(), "1", "r.io/m", *key_).ok());
  auto missing = VerifySignatures(layout(), digests_["1"], dir_.path() / "nope.pub");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  auto pem = key_->Pkcs8Pem();
  ASSERT_TRUE(pem.ok());
  std::ofstream(dir_.path() / "private.pub") << *pem;
  auto wrong_kind = VerifySignatures(layout(), digests_["1"], dir_.path() / "private.pub");
  ASSERT_FALSE(wrong_kind.ok());
  EXPECT_EQ(wrong_kind.status().code(), StatusCode::kInvalidArgument);
  auto bad_digest = VerifySignatures(layout(), "sha256:AB", dir_.path() / "cosign.pub");
  EXPECT_EQ(bad_digest.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SignTest, SigningWithAnEncryptedKeyFileVerifies) {
  auto pem = key_->EncryptedPem("pw", kFast);
  ASSERT_TRUE(pem.ok());
  auto loaded = PrivateKey::FromPem(*pem, "pw");
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(SignPackage(layout(), "2", "r.io/m", **loaded).ok());
  EXPECT_TRUE(Verify("2").ok());
  EXPECT_EQ(Verify("1").status().code(), StatusCode::kNotFound);
}

TEST_F(SignTest, UnknownTagIsNotFound) {
  auto s = SignPackage(layout(), "9", "r.io/m", *key_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace continuum::signing
