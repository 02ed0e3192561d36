// Signing a package in a layout and verifying its signatures offline.
#include <simdjson.h>

#include <limits>

#include "common/base64.h"
#include "packages/digest.h"
#include "packages/layout.h"
#include "packages/package.h"
#include "signing/signing.h"

namespace continuum::signing {
namespace {

namespace fs = std::filesystem;

// The layers of a signature manifest; kInvalidArgument when it is not one.
StatusOr<std::vector<SignatureLayer>> ParseSignatureManifest(std::string_view json, int64_t max_signatures) {
  simdjson::dom::parser parser;
  simdjson::dom::element m;
  simdjson::dom::array layers;
  int64_t schema = 0;
  if (parser.parse(json.data(), json.size()).get(m) || m["schemaVersion"].get(schema) || schema != 2 ||
      m["layers"].get(layers)) {
    return InvalidArgument("it is not an image manifest (schemaVersion 2) with layers");
  }
  if (static_cast<int64_t>(layers.size()) > max_signatures)
    return InvalidArgument("it holds " + std::to_string(layers.size()) +
                           " signatures, more than the limit of " + std::to_string(max_signatures));
  std::vector<SignatureLayer> out;
  for (auto l : layers) {
    std::string_view media_type, digest;
    int64_t size = -1;
    if (l["mediaType"].get(media_type) || l["digest"].get(digest) || l["size"].get(size) || size < 0)
      return InvalidArgument("layer " + std::to_string(out.size()) + " is not a descriptor");
    if (media_type != kSimpleSigningMediaType)
      return InvalidArgument("layer " + std::to_string(out.size()) + " has media type " + Quoted(media_type) +
                             ", not " + std::string(kSimpleSigningMediaType));
    SignatureLayer s{std::string(digest), size, "", {}};
    simdjson::dom::object annotations;
    if (!l["annotations"].get(annotations)) {
      for (auto field : annotations) {
        std::string_view v;
        if (field.value.get(v))
          return InvalidArgument("layer " + std::to_string(out.size()) +
                                 " has an annotation that is not a string");
        s.annotations[std::string(field.key)] = std::string(v);
      }
    }
    auto sig = s.annotations.find(std::string(kSignatureAnnotation));
    if (sig != s.annotations.end()) s.signature = sig->second;
    out.push_back(std::move(s));
  }
  return out;
}

struct Payload {
  std::string digest;  // critical.image.docker-manifest-digest
  std::string docker_reference;
  std::map<std::string, std::string> annotations;
};

StatusOr<Payload> ParsePayload(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view digest, reference, type;
  if (parser.parse(json.data(), json.size()).get(doc) ||
      doc["critical"]["image"]["docker-manifest-digest"].get(digest) ||
      doc["critical"]["identity"]["docker-reference"].get(reference) || doc["critical"]["type"].get(type)) {
    return InvalidArgument(
        "it is not a simple-signing payload (critical.image.docker-manifest-digest, "
        "critical.identity.docker-reference, critical.type)");
  }
  if (type != kCosignSignatureType)
    return InvalidArgument("its critical.type is " + Quoted(type) + ", not " + Quoted(kCosignSignatureType));
  Payload p{std::string(digest), std::string(reference), {}};
  simdjson::dom::object optional;
  if (!doc["optional"].get(optional)) {
    for (auto field : optional) {
      std::string_view v;
      if (!field.value.get(v)) p.annotations[std::string(field.key)] = std::string(v);
    }
  }
  return p;
}

// The signature manifest of `digest`, or an empty list when there is none.
StatusOr<std::vector<SignatureLayer>> ExistingSignatures(const fs::path& layout, const std::string& sig_tag,
                                                         int64_t max_manifest_bytes) {
  ASSIGN_OR_RETURN(std::vector<packages::LayoutEntry> entries, packages::ListLayout(layout));
  bool present = false;
  for (const auto& e : entries) present = present || e.tag == sig_tag;
  if (!present) return std::vector<SignatureLayer>{};
  packages::LayoutLimits limits;
  limits.max_manifest_bytes = max_manifest_bytes;
  auto manifest = packages::ReadTaggedManifest(layout, sig_tag, limits);
  if (!manifest.ok()) return manifest.status().WithContext("the signature manifest " + Quoted(sig_tag));
  auto layers = ParseSignatureManifest(manifest->bytes, std::numeric_limits<int64_t>::max());
  if (!layers.ok()) return layers.status().WithContext("the signature manifest " + Quoted(sig_tag));
  return layers;
}

}  // namespace

StatusOr<Signed> SignPackage(const fs::path& layout, const std::string& tag,
                             std::string_view docker_reference, const PrivateKey& key,
                             const SignOptions& options) {
  packages::LayoutLimits limits;
  limits.max_manifest_bytes = options.max_manifest_bytes;
  ASSIGN_OR_RETURN(packages::TaggedManifest target, packages::ReadTaggedManifest(layout, tag, limits));
  ASSIGN_OR_RETURN(std::string payload,
                   SimpleSigningPayload(docker_reference, target.digest, options.annotations));
  ASSIGN_OR_RETURN(std::string der, key.Sign(payload));
  Signed out;
  out.manifest_digest = target.digest;
  out.signature_tag = packages::SignatureTag(target.digest);
  // The writer's lock covers reading the signatures already there and tagging the new list, so
  // two signers at once both keep their signature.
  ASSIGN_OR_RETURN(std::unique_ptr<packages::LayoutWriter> writer, packages::LayoutWriter::Open(layout));
  ASSIGN_OR_RETURN(std::vector<SignatureLayer> layers,
                   ExistingSignatures(layout, out.signature_tag, options.max_manifest_bytes));
  ASSIGN_OR_RETURN(std::string payload_digest, writer->PutBytes(payload));
  SignatureLayer layer{payload_digest, static_cast<int64_t>(payload.size()), Base64Encode(der), {}};
  layer.annotations[std::string(kSignatureAnnotation)] = layer.signature;
  layers.push_back(std::move(layer));
  std::string config = SignatureConfig(layers);
  RETURN_IF_ERROR(writer->PutBytes(config).status());
  std::string manifest = SignatureManifest(config, layers);
  RETURN_IF_ERROR(writer->Tag(manifest, packages::kManifestMediaType, out.signature_tag));
  out.signature_digest = packages::DigestOf(manifest);
  out.signatures = layers.size();
  return out;
}

StatusOr<std::vector<VerifiedSignature>> VerifySignatures(const fs::path& layout,
                                                          std::string_view manifest_digest,
                                                          const fs::path& public_key_pem,
                                                          const VerifyOptions& options) {
  std::string_view hex = manifest_digest.substr(std::min<size_t>(7, manifest_digest.size()));
  if (manifest_digest.substr(0, 7) != "sha256:" || hex.size() != 64 ||
      hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return InvalidArgument("digest " + Quoted(manifest_digest) + " is not sha256:<64 lower-case hex digits>");
  }
  ASSIGN_OR_RETURN(std::string pem, ReadKeyFile(public_key_pem, options.key_limits.max_key_file_bytes));
  auto key = PublicKey::FromPem(pem);
  if (!key.ok()) return key.status().WithContext(Quoted(public_key_pem.string()));
  const std::string key_name = Quoted(public_key_pem.string());
  const std::string sig_tag = packages::SignatureTag(manifest_digest);
  ASSIGN_OR_RETURN(std::vector<packages::LayoutEntry> entries, packages::ListLayout(layout));
  bool present = false;
  for (const auto& e : entries) present = present || e.tag == sig_tag;
  if (!present)
    return NotFound("unsigned: " + std::string(manifest_digest) + " has no signature (no tag " +
                    Quoted(sig_tag) + " in " + Quoted(layout.string()) + ")");
  packages::LayoutLimits limits;
  limits.max_manifest_bytes = options.max_manifest_bytes;
  auto manifest = packages::ReadTaggedManifest(layout, sig_tag, limits);
  if (!manifest.ok())
    return InvalidArgument("malformed signature " + Quoted(sig_tag) + ": " + manifest.status().message());
  auto layers = ParseSignatureManifest(manifest->bytes, options.max_signatures);
  if (!layers.ok())
    return InvalidArgument("malformed signature " + Quoted(sig_tag) + ": " + layers.status().message());
  if (layers->empty())
    return InvalidArgument("malformed signature " + Quoted(sig_tag) + ": it has no layers");
  std::vector<VerifiedSignature> good;
  std::string other_digest;
  for (size_t i = 0; i < layers->size(); ++i) {
    const SignatureLayer& l = (*layers)[i];
    const std::string where = "malformed signature " + Quoted(sig_tag) + " layer " + std::to_string(i);
    auto der = Base64Decode(l.signature);
    if (l.signature.empty() || !der)
      return InvalidArgument(where + ": no base64 " + std::string(kSignatureAnnotation) + " annotation");
    auto payload = packages::ReadBlobBytes(layout, l.digest, options.max_payload_bytes);
    if (!payload.ok()) return InvalidArgument(where + ": its payload: " + payload.status().message());
    if (!(*key)->Verify(*payload, *der)) continue;
    auto parsed = ParsePayload(*payload);
    if (!parsed.ok()) return InvalidArgument(where + ": its payload: " + parsed.status().message());
    if (parsed->digest != manifest_digest) {
      other_digest = parsed->digest;
      continue;
    }
    good.push_back({parsed->docker_reference, l.digest, std::move(parsed->annotations)});
  }
  if (!good.empty()) return good;
  if (!other_digest.empty())
    return FailedPrecondition("a signature by " + key_name + " under " + Quoted(sig_tag) + " covers " +
                              other_digest + ", not " + std::string(manifest_digest));
  return FailedPrecondition("signed, but not by " + key_name + ": none of the " +
                            std::to_string(layers->size()) + " signatures of " +
                            std::string(manifest_digest) + " verifies with it");
}

Status VerifyPackageSignature(const fs::path& layout, std::string_view manifest_digest,
                              const fs::path& public_key_pem) {
  return VerifySignatures(layout, manifest_digest, public_key_pem).status();
}

}  // namespace continuum::signing
