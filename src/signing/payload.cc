// The documents of a cosign signature, byte for byte as cosign writes them with Go's
// encoding/json: the simple-signing payload, the signature image's config and manifest.
#include <string>

#include "common/json_writer.h"
#include "packages/digest.h"
#include "packages/package.h"
#include "signing/signing.h"

namespace continuum::signing {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid UTF-8.
size_t Utf8Length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 0x2) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// `s` as a JSON string as Go's encoding/json writes it (HTML-safe escaping).
StatusOr<std::string> GoJsonString(std::string_view s, std::string_view what) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Length(s, i);
    if (n == 0) return InvalidArgument(std::string(what) + " " + Quoted(s) + " is not UTF-8");
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 3 && c == 0xe2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xa8 || static_cast<unsigned char>(s[i + 2]) == 0xa9)) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xa8 ? "\\u2028" : "\\u2029";
    } else if (n > 1) {
      out.append(s.substr(i, n));
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
      out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b" : "\\f";
    } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
    i += n;
  }
  out += '"';
  return out;
}

// {"k":"v",...} with sorted keys (Go sorts map keys), Go-escaped.
StatusOr<std::string> GoJsonMap(const std::map<std::string, std::string>& m, std::string_view what) {
  std::string out = "{";
  for (const auto& [k, v] : m) {
    if (out.size() > 1) out += ',';
    ASSIGN_OR_RETURN(std::string key, GoJsonString(k, what));
    ASSIGN_OR_RETURN(std::string value, GoJsonString(v, what));
    out += key + ":" + value;
  }
  return out + "}";
}

}  // namespace

StatusOr<std::string> SimpleSigningPayload(std::string_view docker_reference,
                                           std::string_view manifest_digest,
                                           const std::map<std::string, std::string>& annotations) {
  ASSIGN_OR_RETURN(std::string reference, GoJsonString(docker_reference, "the docker reference"));
  ASSIGN_OR_RETURN(std::string digest, GoJsonString(manifest_digest, "the manifest digest"));
  std::string optional = "null";
  if (!annotations.empty()) {
    ASSIGN_OR_RETURN(optional, GoJsonMap(annotations, "the annotation"));
  }
  return R"({"critical":{"identity":{"docker-reference":)" + reference +
         R"(},"image":{"docker-manifest-digest":)" + digest + R"(},"type":")" +
         std::string(kCosignSignatureType) + R"("},"optional":)" + optional + "}";
}

std::string SignatureConfig(const std::vector<SignatureLayer>& layers) {
  // go-containerregistry's v1.ConfigFile of empty.Image with the layers appended: a zero time
  // for the image and for each layer's history entry, the layers' digests as diff_ids (the
  // payloads are not compressed).
  constexpr std::string_view kZeroTime = "0001-01-01T00:00:00Z";
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("architecture").String("").Key("created").String(kZeroTime);
  if (!layers.empty()) {
    w.Key("history").BeginArray();
    for (size_t i = 0; i < layers.size(); ++i) w.BeginObject().Key("created").String(kZeroTime).EndObject();
    w.EndArray();
  }
  w.Key("os")
      .String("")
      .Key("rootfs")
      .BeginObject()
      .Key("type")
      .String("layers")
      .Key("diff_ids")
      .BeginArray();
  for (const SignatureLayer& l : layers) w.String(l.digest);
  w.EndArray().EndObject().Key("config").BeginObject().EndObject().EndObject();
  return out;
}

std::string SignatureManifest(std::string_view config, const std::vector<SignatureLayer>& layers) {
  // go-containerregistry's v1.Manifest and v1.Descriptor field order.
  std::string out = R"({"schemaVersion":2,"mediaType":")" + std::string(packages::kManifestMediaType) +
                    R"(","config":{"mediaType":")" + std::string(kOciConfigMediaType) + R"(","size":)" +
                    std::to_string(config.size()) + R"(,"digest":")" + packages::DigestOf(config) +
                    R"("},"layers":[)";
  for (size_t i = 0; i < layers.size(); ++i) {
    const SignatureLayer& l = layers[i];
    out += (i == 0 ? "" : ",");
    out += R"({"mediaType":")" + std::string(kSimpleSigningMediaType) + R"(","size":)" +
           std::to_string(l.size) + R"(,"digest":")" + l.digest + "\"";
    if (!l.annotations.empty()) {
      // Annotation values come from a manifest already parsed as JSON, hence valid UTF-8.
      auto annotations = GoJsonMap(l.annotations, "annotation");
      out += ",\"annotations\":" + (annotations.ok() ? *annotations : std::string("{}"));
    }
    out += "}";
  }
  return out + "]}";
}

}  // namespace continuum::signing
