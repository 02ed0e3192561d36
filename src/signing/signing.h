// Cosign-compatible signatures of packages in an OCI image layout (sigstore/cosign's key-based,
// offline scheme):
//
//   keys       ECDSA P-256. cosign.pub: PEM "PUBLIC KEY" (PKIX). cosign.key: PEM "ENCRYPTED
//              SIGSTORE PRIVATE KEY" (or cosign's older "ENCRYPTED COSIGN PRIVATE KEY") holding JSON
//              {kdf: scrypt {N, r, p}, salt; cipher: nacl/secretbox, nonce; ciphertext}: the
//              secretbox of the PKCS#8 DER under the scrypt key of the password. A plain PKCS#8
//              PEM "PRIVATE KEY" is accepted too.
//   payload    the simple-signing JSON {"critical":{"identity":{"docker-reference":REPO},"image":
//              {"docker-manifest-digest":DIGEST},"type":"cosign container image signature"},
//              "optional":ANNOTATIONS|null}, written as Go's encoding/json writes it.
//   signature  ECDSA-SHA256 over the payload bytes, ASN.1 DER, base64, in the layer annotation
//              dev.cosignproject.cosign/signature of a layer (media type
//              application/vnd.dev.cosign.simplesigning.v1+json) whose blob is the payload, in an
//              OCI image manifest tagged "sha256-<hex>.sig" (packages::SignatureTag). Signing
//              again appends a layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::signing {

inline constexpr std::string_view kSimpleSigningMediaType =
    "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr std::string_view kOciConfigMediaType = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kCosignSignatureType = "cosign container image signature";
inline constexpr std::string_view kEncryptedKeyPemType = "ENCRYPTED SIGSTORE PRIVATE KEY";
inline constexpr std::string_view kLegacyEncryptedKeyPemType = "ENCRYPTED COSIGN PRIVATE KEY";

struct ScryptParams {
  uint64_t n = 65536;  // cosign's default ("standard": 2^16, r 8, p 1)
  uint64_t r = 8;
  uint64_t p = 1;
};

struct KeyLimits {
  int64_t max_key_file_bytes = 64 << 10;
  // scrypt's cost, from a key file: N up to this and memory (128 * N * r bytes) up to the next.
  uint64_t max_scrypt_n = uint64_t{1} << 20;
  uint64_t max_scrypt_memory_bytes = uint64_t{1} << 30;
};

// An ECDSA P-256 private key.
class PrivateKey {
 public:
  ~PrivateKey();
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  static StatusOr<std::unique_ptr<PrivateKey>> Generate();
  // PEM: the encrypted cosign forms (with `password`) or plain PKCS#8 "PRIVATE KEY" (password
  // unused). kInvalidArgument for anything else, a wrong password or a key that is not P-256.
  static StatusOr<std::unique_ptr<PrivateKey>> FromPem(std::string_view pem, std::string_view password,
                                                       const KeyLimits& limits = {});

  // cosign.key's form, encrypted with `password` (may be empty, as cosign allows).
  StatusOr<std::string> EncryptedPem(std::string_view password, const ScryptParams& params = {}) const;
  // Plain PKCS#8 PEM "PRIVATE KEY".
  StatusOr<std::string> Pkcs8Pem() const;
  // cosign.pub's form: PEM "PUBLIC KEY".
  StatusOr<std::string> PublicKeyPem() const;
  // ECDSA over SHA-256(data), ASN.1 DER.
  StatusOr<std::string> Sign(std::string_view data) const;

 private:
  struct Impl;
  explicit PrivateKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// An ECDSA P-256 public key (cosign.pub).
class PublicKey {
 public:
  ~PublicKey();
  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  // kInvalidArgument for anything but PEM "PUBLIC KEY" of a P-256 key.
  static StatusOr<std::unique_ptr<PublicKey>> FromPem(std::string_view pem);
  // True when `der_signature` is this key's ECDSA signature of SHA-256(data).
  bool Verify(std::string_view data, std::string_view der_signature) const;

 private:
  struct Impl;
  explicit PublicKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads a key file no larger than `max_bytes`.
StatusOr<std::string> ReadKeyFile(const std::filesystem::path& path, int64_t max_bytes);

// The simple-signing payload, byte for byte as cosign (Go's encoding/json) writes it: keys in
// struct order, annotations sorted, "<", ">", "&", U+2028 and U+2029 escaped, "optional": null
// when there are no annotations. kInvalidArgument for text that is not UTF-8.
StatusOr<std::string> SimpleSigningPayload(std::string_view docker_reference,
                                           std::string_view manifest_digest,
                                           const std::map<std::string, std::string>& annotations);

// One signature layer of a signature manifest.
struct SignatureLayer {
  std::string digest;  // of the payload blob
  int64_t size = 0;
  std::string signature;                           // base64 of the DER signature
  std::map<std::string, std::string> annotations;  // all of the layer's, the signature's included
};

// The config cosign (go-containerregistry) writes for a signature image with these layers.
std::string SignatureConfig(const std::vector<SignatureLayer>& layers);
// The signature image manifest over `config` (its bytes) and `layers`.
std::string SignatureManifest(std::string_view config, const std::vector<SignatureLayer>& layers);

struct SignOptions {
  std::map<std::string, std::string> annotations;  // the payload's "optional"
  int64_t max_manifest_bytes = 4 << 20;            // a manifest read from the layout
};

struct Signed {
  std::string manifest_digest;   // the package's
  std::string signature_tag;     // "sha256-<hex>.sig"
  std::string signature_digest;  // the signature manifest's
  size_t signatures = 0;         // layers in the signature manifest, the new one included
};

// Signs the manifest tagged `tag` in `layout` for `docker_reference` (the package's repository,
// e.g. "localhost:5000/models/add_sub"): writes the payload, config and signature manifest, and
// tags it SignatureTag(digest), keeping the signatures already there.
StatusOr<Signed> SignPackage(const std::filesystem::path& layout, const std::string& tag,
                             std::string_view docker_reference, const PrivateKey& key,
                             const SignOptions& options = {});

struct VerifiedSignature {
  std::string docker_reference;  // the payload's claimed identity
  std::string payload_digest;
  std::map<std::string, std::string> annotations;  // the payload's "optional" (string values)
};

struct VerifyOptions {
  int64_t max_manifest_bytes = 4 << 20;  // the signature manifest
  int64_t max_payload_bytes = 1 << 20;   // one payload blob
  int64_t max_signatures = 1024;         // layers in the signature manifest
  KeyLimits key_limits;
};

// Every signature of `manifest_digest` in `layout` made by `public_key`, checked offline. Errors:
//   kNotFound            "unsigned": no signature tag for the digest;
//   kFailedPrecondition  "signed, but not by <key>": no signature verifies with this key;
//   kFailedPrecondition  a good signature whose payload names another digest ("... covers <other>");
//   kInvalidArgument     a malformed signature manifest, layer or payload, or a key that is not a
//                        P-256 PEM public key;
// (the status codes have no "unauthenticated"; the messages say which case it is).
StatusOr<std::vector<VerifiedSignature>> VerifySignatures(const std::filesystem::path& layout,
                                                          std::string_view manifest_digest,
                                                          const std::filesystem::path& public_key_pem,
                                                          const VerifyOptions& options = {});

// Offline: the layout's cosign signatures (tag SignatureTag(manifest_digest)) for
// `manifest_digest`, checked with the PEM public key (cosign.pub). Ok when at least one signature
// by this key covers exactly this digest; otherwise VerifySignatures' errors.
Status VerifyPackageSignature(const std::filesystem::path& layout, std::string_view manifest_digest,
                              const std::filesystem::path& public_key_pem);

}  // namespace continuum::signing
