// References, media types and the ModelPack config and OCI manifest JSON.
#include "packages/package.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include "common/json_writer.h"
#include "packages/digest.h"
#include "packages/package_internal.h"

namespace continuum::packages {
namespace {

bool TagChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Descriptor keys in lexicographic order: annotations, digest, mediaType, size.
void WriteDescriptor(JsonWriter& w, const Blob& b) {
  w.BeginObject();
  if (!b.annotations.empty()) {
    w.Key("annotations").BeginObject();
    for (const auto& [k, v] : b.annotations) w.Key(k).String(v);  // std::map: sorted
    w.EndObject();
  }
  w.Key("digest").String(b.digest).Key("mediaType").String(b.media_type).Key("size").Int(b.size);
  w.EndObject();
}

}  // namespace

const std::string& Blob::filepath() const {
  static const std::string kNone;
  auto it = annotations.find(std::string(kFilepathAnnotation));
  return it == annotations.end() ? kNone : it->second;
}

StatusOr<Reference> ParseReference(std::string_view ref) {
  if (ref.empty()) return InvalidArgument("the package reference is empty");
  if (ref.find('@') != std::string_view::npos) {
    return InvalidArgument("reference " + Quoted(ref) + " names a digest; a package is tagged (name:tag)");
  }
  Reference r;
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.repository = std::string(ref.substr(0, colon));
    r.tag = std::string(ref.substr(colon + 1));
  } else {
    r.repository = std::string(ref);
    r.tag = "latest";
  }
  if (r.repository.empty() || r.repository.back() == '/') {
    return InvalidArgument("reference " + Quoted(ref) + " has no repository name");
  }
  bool tag_ok = !r.tag.empty() && r.tag.size() <= 128 && r.tag[0] != '.' && r.tag[0] != '-' &&
                std::all_of(r.tag.begin(), r.tag.end(), TagChar);
  if (!tag_ok) {
    return InvalidArgument("reference " + Quoted(ref) +
                           ": the tag must be 1 to 128 of A-Z a-z 0-9 _ . - and not start with . or -");
  }
  return r;
}

StatusOr<std::string> CreatedAtFromEpoch(std::string_view seconds) {
  int64_t v = -1;
  auto [p, ec] = std::from_chars(seconds.data(), seconds.data() + seconds.size(), v);
  if (seconds.empty() || ec != std::errc() || p != seconds.data() + seconds.size() || v < 0) {
    return InvalidArgument("the creation time " + Quoted(seconds) + " is not a number of seconds since 1970");
  }
  std::time_t t = static_cast<std::time_t>(v);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr)
    return InvalidArgument("the creation time " + Quoted(seconds) + " is out of range");
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf);
}

std::string_view LayerMediaType(std::string_view filepath) {
  std::string base =
      Lower(filepath.substr(filepath.rfind('/') == std::string_view::npos ? 0 : filepath.rfind('/') + 1));
  if (EndsWith(base, ".onnx")) return kWeightMediaType;
  if (base.rfind("readme", 0) == 0 || base.rfind("license", 0) == 0 || base.rfind("licence", 0) == 0 ||
      EndsWith(base, ".md")) {
    return kDocMediaType;
  }
  if (EndsWith(base, ".py") || EndsWith(base, ".sh")) return kCodeMediaType;
  for (std::string_view ext : {".json", ".txt", ".yaml", ".yml", ".toml"}) {
    if (EndsWith(base, ext)) return kWeightConfigMediaType;
  }
  // The other files in a version folder are a model's external data.
  bool in_version = false;
  for (size_t start = 0, end; (end = filepath.find('/', start)) != std::string_view::npos; start = end + 1) {
    std::string_view dir = filepath.substr(start, end - start);
    in_version = in_version || (!dir.empty() && std::all_of(dir.begin(), dir.end(),
                                                            [](char c) { return c >= '0' && c <= '9'; }));
  }
  return in_version ? kWeightMediaType : kWeightConfigMediaType;
}

std::string ConfigJson(const PackOptions& options, const std::vector<Blob>& layers) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("config").BeginObject();
  if (!options.architecture.empty()) w.Key("architecture").String(options.architecture);
  w.Key("format").String("onnx").EndObject();
  w.Key("descriptor").BeginObject();
  if (!options.created_at.empty()) w.Key("createdAt").String(options.created_at);
  if (!options.description.empty()) w.Key("description").String(options.description);
  if (!options.licenses.empty()) {
    w.Key("licenses").BeginArray();
    for (const std::string& l : options.licenses) w.String(l);
    w.EndArray();
  }
  std::string_view repo = options.reference.repository;
  w.Key("name").String(repo.substr(repo.rfind('/') == std::string_view::npos ? 0 : repo.rfind('/') + 1));
  w.Key("version").String(options.reference.tag).EndObject();
  // Raw layers: the DiffID of an uncompressed layer is its digest.
  w.Key("modelfs").BeginObject().Key("diffIds").BeginArray();
  for (const Blob& b : layers) w.String(b.digest);
  w.EndArray().Key("type").String("layers").EndObject();
  w.EndObject();
  return out;
}

std::string ManifestJson(const PackOptions& options, const Blob& config, const std::vector<Blob>& layers) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  if (!options.created_at.empty()) {
    w.Key("annotations").BeginObject().Key(kCreatedAnnotation).String(options.created_at).EndObject();
  }
  w.Key("artifactType").String(kArtifactType).Key("config");
  WriteDescriptor(w, config);
  w.Key("layers").BeginArray();
  for (const Blob& b : layers) WriteDescriptor(w, b);
  w.EndArray().Key("mediaType").String(kManifestMediaType).Key("schemaVersion").Int(2).EndObject();
  return out;
}

Blob MemoryBlob(std::string media_type, std::string data) {
  Blob b;
  b.media_type = std::move(media_type);
  b.digest = DigestOf(data);
  b.size = static_cast<int64_t>(data.size());
  b.data = std::move(data);
  return b;
}

void FinishPackage(const PackOptions& options, Package* p) {
  std::sort(p->layers.begin(), p->layers.end(),
            [](const Blob& a, const Blob& b) { return a.filepath() < b.filepath(); });
  p->config = MemoryBlob(std::string(kConfigMediaType), ConfigJson(options, p->layers));
  p->manifest = ManifestJson(options, p->config, p->layers);
  p->manifest_digest = DigestOf(p->manifest);
}

}  // namespace continuum::packages
