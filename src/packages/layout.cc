#include "packages/layout.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "common/json_writer.h"
#include "packages/digest.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kLayoutFile = R"({"imageLayoutVersion":"1.0.0"})";

std::string TempName(const fs::path& target) {
  return target.string() + ".tmp-" + std::to_string(::getpid());
}

// Flushes a file's (or a folder's) contents to the disk, so a rename that follows never makes
// an empty or partial file visible after a crash.
Status SyncPath(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FailedPrecondition("cannot open " + Quoted(path.string()) + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return FailedPrecondition("cannot sync " + Quoted(path.string()) + ": " + std::strerror(err));
  return Status::Ok();
}

// Temporary files (TempName) are written only under the layout's lock, so whoever holds the lock
// and finds one knows its writer died before renaming it (kill -9, power loss): it is removed.
void RemoveLeftovers(const fs::path& layout) {
  for (const fs::path& dir : {layout, layout / "blobs" / "sha256"}) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().filename().string().find(".tmp-") != std::string::npos) {
        std::error_code ignored;
        fs::remove(it->path(), ignored);
      }
    }
  }
}

Status WriteAtomically(const fs::path& target, std::string_view bytes) {
  fs::path tmp = TempName(target);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return FailedPrecondition("cannot write " + Quoted(tmp.string()));
  }
  std::error_code ec;
  if (Status st = SyncPath(tmp); !st.ok()) {
    fs::remove(tmp, ec);
    return st;
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return FailedPrecondition("cannot rename into " + Quoted(target.string()) + ": " + ec.message());
  }
  return Status::Ok();
}

StatusOr<std::string> ReadSmall(const fs::path& path, int64_t max_bytes, std::string_view what) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return NotFound(std::string(what) + " " + Quoted(path.string()) + " is missing");
  if (static_cast<int64_t>(size) > max_bytes) {
    return PayloadTooLarge(std::string(what) + " is larger than the limit of " + std::to_string(max_bytes) +
                           " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return FailedPrecondition("cannot read " + Quoted(path.string()));
  return ss.str();
}

// "sha256:<64 lower-case hex>" -> the blob's path; kInvalidArgument for anything else.
StatusOr<fs::path> BlobPath(const fs::path& layout, std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  std::string_view hex = digest.substr(digest.rfind(':') + 1);
  bool ok = digest.substr(0, kPrefix.size()) == kPrefix && hex.size() == 64 &&
            hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  if (!ok) return InvalidArgument("digest " + Quoted(digest) + " is not sha256:<64 hex digits>");
  return layout / "blobs" / "sha256" / std::string(hex);
}

// Verifies a blob file against its descriptor.
Status VerifyBlob(const fs::path& layout, const Blob& b, int64_t max_bytes, const std::string& what) {
  ASSIGN_OR_RETURN(fs::path path, BlobPath(layout, b.digest));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return NotFound(what + " is missing: blob " + b.digest + " is not in the layout");
  if (b.size > max_bytes)
    return PayloadTooLarge(what + " is larger than the limit of " + std::to_string(max_bytes) + " bytes");
  auto d = DigestFile(path, max_bytes);
  if (!d.ok()) return d.status().WithContext(what);
  if (d->size != b.size) {
    return InvalidArgument(what + ": blob " + b.digest + " holds " + std::to_string(d->size) +
                           " bytes, the manifest says " + std::to_string(b.size));
  }
  if (d->digest != b.digest)
    return InvalidArgument(what + ": blob " + b.digest + " is corrupt: its bytes hash to " + d->digest);
  return Status::Ok();
}

Status WriteBlob(const fs::path& layout, const Blob& b, int64_t max_bytes) {
  ASSIGN_OR_RETURN(fs::path path, BlobPath(layout, b.digest));
  std::error_code ec;
  if (fs::exists(path, ec) && VerifyBlob(layout, b, max_bytes, "blob").ok()) return Status::Ok();
  if (b.source.empty()) return WriteAtomically(path, b.data);
  fs::path tmp = TempName(path);
  auto d = DigestFile(b.source, max_bytes, tmp);
  if (!d.ok() || d->digest != b.digest) {
    fs::remove(tmp, ec);
    if (!d.ok()) return d.status();
    return FailedPrecondition(Quoted(b.source.string()) + " changed while it was being packed");
  }
  if (Status st = SyncPath(tmp); !st.ok()) {
    fs::remove(tmp, ec);
    return st;
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return FailedPrecondition("cannot rename into " + Quoted(path.string()) + ": " + ec.message());
  }
  return Status::Ok();
}

StatusOr<Blob> ParseDescriptor(simdjson::dom::element e, const std::string& what) {
  Blob b;
  std::string_view media_type, digest;
  int64_t size = 0;
  if (e["mediaType"].get(media_type) || e["digest"].get(digest) || e["size"].get(size) || size < 0) {
    return InvalidArgument(what + " is not a descriptor with mediaType, digest and size");
  }
  b.media_type = std::string(media_type);
  b.digest = std::string(digest);
  b.size = size;
  simdjson::dom::object annotations;
  if (!e["annotations"].get(annotations)) {
    for (auto field : annotations) {
      std::string_view v;
      if (field.value.get(v)) return InvalidArgument(what + ": annotation values must be strings");
      b.annotations[std::string(field.key)] = std::string(v);
    }
  }
  return b;
}

struct Index {
  std::vector<Blob> manifests;  // descriptors, with their annotations
};

StatusOr<Index> ReadIndex(const fs::path& layout, const LayoutLimits& limits) {
  ASSIGN_OR_RETURN(std::string oci_layout,
                   ReadSmall(layout / "oci-layout", limits.max_manifest_bytes, "oci-layout"));
  simdjson::dom::parser parser;
  std::string_view version;
  if (parser.parse(oci_layout)["imageLayoutVersion"].get(version) || version != "1.0.0") {
    return InvalidArgument(Quoted((layout / "oci-layout").string()) +
                           " does not say imageLayoutVersion 1.0.0");
  }
  ASSIGN_OR_RETURN(std::string text,
                   ReadSmall(layout / "index.json", limits.max_manifest_bytes, "index.json"));
  simdjson::dom::array manifests;
  if (parser.parse(text)["manifests"].get(manifests)) {
    return InvalidArgument("index.json is not an image index with a manifests array");
  }
  Index index;
  for (auto m : manifests) {
    ASSIGN_OR_RETURN(Blob b, ParseDescriptor(m, "an index.json entry"));
    index.manifests.push_back(std::move(b));
  }
  return index;
}

std::string TagOf(const Blob& b) {
  auto it = b.annotations.find(std::string(kRefNameAnnotation));
  return it == b.annotations.end() ? "" : it->second;
}

std::string IndexJson(const Index& index) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("manifests").BeginArray();
  for (const Blob& b : index.manifests) {
    w.BeginObject();
    if (!b.annotations.empty()) {
      w.Key("annotations").BeginObject();
      for (const auto& [k, v] : b.annotations) w.Key(k).String(v);
      w.EndObject();
    }
    w.Key("digest")
        .String(b.digest)
        .Key("mediaType")
        .String(b.media_type)
        .Key("size")
        .Int(b.size)
        .EndObject();
  }
  w.EndArray().Key("mediaType").String(kIndexMediaType).Key("schemaVersion").Int(2).EndObject();
  return out;
}

// A layer's filepath must stay inside the package.
Status CheckFilepath(const std::string& path) {
  fs::path p(path);
  bool bad = path.empty() || p.is_absolute() || path.find('\0') != std::string::npos || path.front() == '/';
  for (const auto& part : p) bad = bad || part == "..";
  if (bad)
    return InvalidArgument("the manifest lists the file " + Quoted(path) +
                           ", a path that leaves the package");
  return Status::Ok();
}

// The ModelPack config's required parts (descriptor, config, modelfs of type "layers"), and
// diffIds that are the layers' digests in order: raw layers are their own uncompressed form.
Status CheckConfig(const std::string& json, const std::vector<Blob>& layers) {
  simdjson::dom::parser parser;
  simdjson::dom::element config;
  simdjson::dom::object descriptor, model_config;
  simdjson::dom::array diff_ids;
  std::string_view type;
  if (parser.parse(json).get(config) || config["descriptor"].get(descriptor) ||
      config["config"].get(model_config) || config["modelfs"]["type"].get(type) || type != "layers" ||
      config["modelfs"]["diffIds"].get(diff_ids)) {
    return InvalidArgument(
        "the config does not follow the ModelPack config schema: it needs descriptor, config and modelfs "
        "{type: layers, diffIds}");
  }
  size_t i = 0;
  for (auto id : diff_ids) {
    std::string_view digest;
    if (id.get(digest) || i >= layers.size() || digest != layers[i].digest) {
      return InvalidArgument("the config's modelfs.diffIds[" + std::to_string(i) +
                             "] is not the digest of layer " + std::to_string(i));
    }
    ++i;
  }
  if (i != layers.size() || i == 0) {
    return InvalidArgument("the config lists " + std::to_string(i) + " diffIds for " +
                           std::to_string(layers.size()) + " layers");
  }
  return Status::Ok();
}

}  // namespace

LayoutWriter::LayoutWriter(fs::path layout, int lock_fd, LayoutLimits limits)
    : layout_(std::move(layout)), lock_fd_(lock_fd), limits_(limits) {}

LayoutWriter::~LayoutWriter() { ::close(lock_fd_); }

StatusOr<std::unique_ptr<LayoutWriter>> LayoutWriter::Open(const fs::path& layout, LayoutLimits limits) {
  std::error_code ec;
  fs::create_directories(layout / "blobs" / "sha256", ec);
  if (ec) return FailedPrecondition("cannot create " + Quoted(layout.string()) + ": " + ec.message());
  // index.json is read, changed and replaced, so two writers at once would lose a tag. The lock
  // is on the folder itself, so the layout holds no file beyond what the spec names.
  int fd = ::open(layout.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::flock(fd, LOCK_EX) != 0) {
    if (fd >= 0) ::close(fd);
    return FailedPrecondition("cannot lock " + Quoted(layout.string()) + ": " + std::strerror(errno));
  }
  std::unique_ptr<LayoutWriter> writer(new LayoutWriter(layout, fd, limits));
  RemoveLeftovers(layout);
  if (!fs::exists(layout / "oci-layout", ec)) {
    RETURN_IF_ERROR(WriteAtomically(layout / "oci-layout", kLayoutFile));
  }
  return writer;
}

StatusOr<fs::path> LayoutWriter::PathOf(std::string_view digest) const { return BlobPath(layout_, digest); }

bool LayoutWriter::Has(std::string_view digest, int64_t size) const {
  Blob b;
  b.digest = std::string(digest);
  b.size = size;
  return VerifyBlob(layout_, b, limits_.max_blob_bytes, "blob").ok();
}

fs::path LayoutWriter::IngestDir() const {
  fs::path dir = layout_ / ".continuum-ingest";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir;
}

Status LayoutWriter::Put(const Blob& b) { return WriteBlob(layout_, b, limits_.max_blob_bytes); }

StatusOr<std::string> LayoutWriter::PutBytes(std::string_view bytes) {
  Blob b;
  b.digest = DigestOf(bytes);
  b.size = static_cast<int64_t>(bytes.size());
  b.data = std::string(bytes);
  RETURN_IF_ERROR(Put(b));
  return b.digest;
}

Status LayoutWriter::Adopt(const fs::path& file, std::string_view digest, int64_t size, AdoptCheck check) {
  std::error_code ec;
  auto path = PathOf(digest);
  if (!path.ok() || Has(digest, size)) {
    fs::remove(file, ec);
    return path.status();
  }
  StatusOr<FileDigest> d = FileDigest{std::string(digest), 0};
  if (check == AdoptCheck::kRehash) {
    d = DigestFile(file, limits_.max_blob_bytes);
  } else {
    auto bytes = fs::file_size(file, ec);
    if (ec) d = FailedPrecondition("cannot read the size of " + Quoted(file.string()) + ": " + ec.message());
    if (d.ok()) d->size = static_cast<int64_t>(bytes);
  }
  Status st = Status::Ok();
  if (!d.ok()) {
    st = d.status();
  } else if (d->size != size || d->digest != digest) {
    st = InvalidArgument("blob " + std::string(digest) + " of " + std::to_string(size) +
                         " bytes: " + Quoted(file.string()) + " holds " + std::to_string(d->size) +
                         " bytes that hash to " + d->digest);
  } else {
    st = SyncPath(file);
  }
  if (st.ok()) {
    fs::rename(file, *path, ec);
    if (ec) st = FailedPrecondition("cannot rename into " + Quoted(path->string()) + ": " + ec.message());
  }
  if (!st.ok()) fs::remove(file, ec);
  return st;
}

Status LayoutWriter::Tag(std::string_view manifest, std::string_view media_type, const std::string& tag) {
  Index index;
  std::error_code ec;
  if (fs::exists(layout_ / "index.json", ec)) {
    ASSIGN_OR_RETURN(index, ReadIndex(layout_, limits_));
  }
  Blob m;
  m.media_type = std::string(media_type);
  m.digest = DigestOf(manifest);
  m.size = static_cast<int64_t>(manifest.size());
  m.data = std::string(manifest);
  RETURN_IF_ERROR(Put(m));
  m.data.clear();
  m.annotations[std::string(kRefNameAnnotation)] = tag;
  std::erase_if(index.manifests, [&](const Blob& b) { return TagOf(b) == tag; });
  index.manifests.push_back(std::move(m));
  RETURN_IF_ERROR(WriteAtomically(layout_ / "index.json", IndexJson(index)));
  return SyncPath(layout_);
}

namespace {

// Adds to `reached` the digest of `manifest` and every blob it names: config and layers, or the
// manifests of an image index (nested at most `depth` deep).
Status MarkReachable(const fs::path& layout, const Blob& manifest, const LayoutLimits& limits, int depth,
                     std::set<std::string>* reached) {
  if (!reached->insert(manifest.digest).second) return Status::Ok();
  if (depth > 4) return InvalidArgument("image indexes nested more than 4 deep");
  ASSIGN_OR_RETURN(std::string bytes, ReadBlobBytes(layout, manifest.digest, limits.max_manifest_bytes));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(bytes).get(doc)) return InvalidArgument("manifest " + manifest.digest + " is not JSON");
  const std::string what = "manifest " + manifest.digest;
  simdjson::dom::element config;
  if (!doc["config"].get(config)) {
    ASSIGN_OR_RETURN(Blob c, ParseDescriptor(config, what + " config"));
    reached->insert(c.digest);
  }
  for (const char* key : {"layers", "manifests"}) {
    simdjson::dom::array list;
    if (doc[key].get(list)) continue;
    for (auto e : list) {
      ASSIGN_OR_RETURN(Blob b, ParseDescriptor(e, what + " " + key));
      if (std::string_view(key) == "manifests") {
        RETURN_IF_ERROR(MarkReachable(layout, b, limits, depth + 1, reached));
      } else {
        reached->insert(b.digest);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<LayoutWriter::PruneResult> LayoutWriter::Prune(
    const std::function<bool(const std::string& tag)>& drop) {
  PruneResult result;
  std::error_code ec;
  if (!fs::exists(layout_ / "index.json", ec)) return result;
  ASSIGN_OR_RETURN(Index index, ReadIndex(layout_, limits_));
  const size_t before = index.manifests.size();
  std::erase_if(index.manifests, [&](const Blob& b) {
    const std::string tag = TagOf(b);
    return !tag.empty() && drop(tag);
  });
  result.untagged = static_cast<int64_t>(before - index.manifests.size());
  std::set<std::string> reached;
  for (const Blob& m : index.manifests) RETURN_IF_ERROR(MarkReachable(layout_, m, limits_, 0, &reached));
  if (result.untagged > 0) {
    RETURN_IF_ERROR(WriteAtomically(layout_ / "index.json", IndexJson(index)));
    RETURN_IF_ERROR(SyncPath(layout_));
  }
  const fs::path blobs = layout_ / "blobs" / "sha256";
  for (fs::directory_iterator it(blobs, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 64 || name.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    if (reached.count("sha256:" + name)) continue;
    std::error_code size_ec, remove_ec;
    const auto size = fs::file_size(it->path(), size_ec);
    if (!fs::remove(it->path(), remove_ec)) continue;
    ++result.blobs_removed;
    if (!size_ec) result.bytes_freed += static_cast<int64_t>(size);
  }
  if (ec) return FailedPrecondition("cannot list " + Quoted(blobs.string()) + ": " + ec.message());
  if (result.blobs_removed > 0) RETURN_IF_ERROR(SyncPath(blobs));
  return result;
}

Status WriteLayout(const fs::path& layout, const Package& package, const std::string& tag) {
  ASSIGN_OR_RETURN(auto writer, LayoutWriter::Open(layout));
  for (const Blob& b : package.layers) RETURN_IF_ERROR(writer->Put(b));
  RETURN_IF_ERROR(writer->Put(package.config));
  return writer->Tag(package.manifest, kManifestMediaType, tag);
}

StatusOr<std::vector<LayoutEntry>> ListLayout(const fs::path& layout, LayoutLimits limits) {
  ASSIGN_OR_RETURN(Index index, ReadIndex(layout, limits));
  std::vector<LayoutEntry> out;
  for (const Blob& b : index.manifests) out.push_back({TagOf(b), b.digest});
  return out;
}

StatusOr<TaggedManifest> ReadTaggedManifest(const fs::path& layout, const std::string& tag,
                                            LayoutLimits limits) {
  ASSIGN_OR_RETURN(Index index, ReadIndex(layout, limits));
  const Blob* entry = nullptr;
  std::string tags;
  for (const Blob& b : index.manifests) {
    if (TagOf(b) == tag) entry = &b;
    tags += (tags.empty() ? "" : ", ") + Quoted(TagOf(b));
  }
  if (entry == nullptr) {
    return NotFound("no package tagged " + Quoted(tag) + " in " + Quoted(layout.string()) +
                    " (tags: " + (tags.empty() ? "none" : tags) + ")");
  }
  RETURN_IF_ERROR(VerifyBlob(layout, *entry, limits.max_manifest_bytes, "the manifest"));
  ASSIGN_OR_RETURN(fs::path path, BlobPath(layout, entry->digest));
  TaggedManifest out;
  ASSIGN_OR_RETURN(out.bytes, ReadSmall(path, limits.max_manifest_bytes, "the manifest"));
  out.digest = entry->digest;
  out.media_type = entry->media_type;
  return out;
}

StatusOr<std::string> ReadBlobBytes(const fs::path& layout, std::string_view digest, int64_t max_bytes) {
  ASSIGN_OR_RETURN(fs::path path, BlobPath(layout, digest));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return NotFound("blob " + std::string(digest) + " is not in the layout");
  ASSIGN_OR_RETURN(std::string bytes, ReadSmall(path, max_bytes, "blob " + std::string(digest)));
  std::string actual = DigestOf(bytes);
  if (actual != digest) {
    return InvalidArgument("blob " + std::string(digest) + " is corrupt: its bytes hash to " + actual);
  }
  return bytes;
}

std::string SignatureTag(std::string_view manifest_digest) {
  std::string tag(manifest_digest);
  std::replace(tag.begin(), tag.end(), ':', '-');
  return tag + ".sig";
}

StatusOr<Package> ReadLayout(const fs::path& layout, const std::string& tag, LayoutLimits limits) {
  ASSIGN_OR_RETURN(TaggedManifest tagged, ReadTaggedManifest(layout, tag, limits));
  if (tagged.media_type != kManifestMediaType)
    return InvalidArgument("tag " + Quoted(tag) + " is not an image manifest");
  Package p;
  p.manifest = std::move(tagged.bytes);
  p.manifest_digest = std::move(tagged.digest);
  simdjson::dom::parser parser;
  simdjson::dom::element m;
  if (parser.parse(p.manifest).get(m)) return InvalidArgument("the manifest is not valid JSON");
  int64_t schema = 0;
  std::string_view media_type, artifact_type;
  if (m["schemaVersion"].get(schema) || schema != 2 || m["mediaType"].get(media_type) ||
      media_type != kManifestMediaType || m["artifactType"].get(artifact_type) ||
      artifact_type != kArtifactType) {
    return InvalidArgument("the manifest is not an OCI image manifest (schemaVersion 2) of artifactType " +
                           std::string(kArtifactType));
  }
  simdjson::dom::element config;
  simdjson::dom::array layers;
  if (m["config"].get(config) || m["layers"].get(layers))
    return InvalidArgument("the manifest has no config or layers");
  ASSIGN_OR_RETURN(p.config, ParseDescriptor(config, "the manifest's config"));
  if (p.config.media_type != kConfigMediaType)
    return InvalidArgument("the config is not " + std::string(kConfigMediaType));
  RETURN_IF_ERROR(VerifyBlob(layout, p.config, limits.max_manifest_bytes, "the config"));
  for (auto l : layers) {
    ASSIGN_OR_RETURN(Blob b, ParseDescriptor(l, "a layer"));
    RETURN_IF_ERROR(CheckFilepath(b.filepath()));
    RETURN_IF_ERROR(VerifyBlob(layout, b, limits.max_blob_bytes, "file " + Quoted(b.filepath())));
    ASSIGN_OR_RETURN(b.source, BlobPath(layout, b.digest));
    p.layers.push_back(std::move(b));
  }
  ASSIGN_OR_RETURN(p.config.source, BlobPath(layout, p.config.digest));
  ASSIGN_OR_RETURN(p.config.data, ReadSmall(p.config.source, limits.max_manifest_bytes, "the config"));
  RETURN_IF_ERROR(CheckConfig(p.config.data, p.layers));
  return p;
}

}  // namespace continuum::packages
