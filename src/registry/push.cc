// Push: blobs first (HEAD: skip; a known location on the registry: mount; else a chunked
// upload), the manifest last, then the signature tag.
#include <fstream>
#include <system_error>

#include "packages/layout.h"
#include "packages/package.h"
#include "registry/client.h"
#include "registry/session.h"
#include "registry/transfer.h"

namespace continuum::registry {
namespace {

struct PushContext {
  Session& session;
  Locations& locations;
  Tally& tally;
  const std::filesystem::path& layout;
};

std::string BlobsPath(const Session& s) { return "/v2/" + s.repo().name + "/blobs/"; }

std::string WithQuery(const std::string& location, const std::string& query) {
  return location + (location.find('?') == std::string::npos ? "?" : "&") + query;
}

// HEAD: does the registry hold the blob in this repository?
StatusOr<bool> RegistryHas(Session& s, const Descriptor& d) {
  http::ClientRequest req;
  req.method = "HEAD";
  req.target = BlobsPath(s) + d.digest;
  auto r = s.Do(req);
  if (!r.ok()) return r.status();
  if (r->status == 200) return true;
  if (r->status == 404) return false;
  return Session::Unexpected(req, *r);
}

// POST an upload (a mount when `from` is set): the upload's Location, or "" when mounted.
StatusOr<std::string> StartUpload(Session& s, const Descriptor& d, const std::string& from) {
  http::ClientRequest req;
  req.method = "POST";
  req.target = BlobsPath(s) + "uploads/";
  if (!from.empty()) req.target += "?mount=" + UrlEncode(d.digest) + "&from=" + UrlEncode(from);
  auto r = s.Do(req, /*retry=*/false);
  if (!r.ok()) return r.status();
  if (r->status == 201 && !from.empty()) return std::string();
  const std::string* location = r->Header("location");
  if (r->status != 202 || location == nullptr) return Session::Unexpected(req, *r);
  return *location;
}

// PATCH the file's bytes in chunks of options.chunk_bytes, then PUT ?digest=.
Status UploadChunks(PushContext& c, std::string location, const Descriptor& d,
                    const std::filesystem::path& file) {
  Session& s = c.session;
  std::ifstream in(file, std::ios::binary);
  if (!in) return FailedPrecondition("cannot read blob " + file.string());
  const int64_t chunk = std::max<int64_t>(s.options().chunk_bytes, 1);
  for (int64_t offset = 0; offset < d.size;) {
    http::ClientRequest req;
    req.method = "PATCH";
    req.target = location;
    req.body.resize(static_cast<size_t>(std::min(chunk, d.size - offset)));
    if (!in.read(req.body.data(), static_cast<std::streamsize>(req.body.size())))
      return FailedPrecondition("blob " + file.string() + " is shorter than its " + std::to_string(d.size) +
                                " bytes");
    const int64_t n = static_cast<int64_t>(req.body.size());
    req.headers = {{"Content-Type", "application/octet-stream"},
                   {"Content-Range", std::to_string(offset) + "-" + std::to_string(offset + n - 1)}};
    auto r = s.Do(req, /*retry=*/false);
    if (!r.ok()) return r.status();
    const std::string* next = r->Header("location");
    if (r->status != 202 || next == nullptr) return Session::Unexpected(req, *r);
    location = *next;
    offset += n;
    c.tally.Moved(n);
  }
  http::ClientRequest put;
  put.method = "PUT";
  put.target = WithQuery(location, "digest=" + UrlEncode(d.digest));
  put.headers = {{"Content-Type", "application/octet-stream"}};
  auto r = s.Do(put, /*retry=*/false);
  if (!r.ok()) return r.status();
  if (r->status != 201) return Session::Unexpected(put, *r);
  return Status();
}

Status PushBlob(PushContext& c, const Descriptor& d) {
  Session& s = c.session;
  auto has = RegistryHas(s, d);
  if (!has.ok()) return has.status();
  if (*has) {
    c.tally.Count(&Summary::blobs_present);
    c.locations.Add(s.repo().host, s.repo().name, d.digest);
    return Status();
  }
  std::filesystem::path file = c.layout / "blobs" / "sha256" / d.digest.substr(7);
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec || static_cast<int64_t>(size) != d.size)
    return NotFound("layout " + c.layout.string() + " lacks blob " + d.digest + " of " +
                    std::to_string(d.size) + " bytes");
  if (d.size > s.options().max_blob_bytes)
    return PayloadTooLarge("blob " + d.digest + " has " + std::to_string(d.size) +
                           " bytes, over --max-blob-bytes " + std::to_string(s.options().max_blob_bytes));
  std::string from = c.locations.Find(s.repo().host, d.digest, s.repo().name).value_or("");
  Status last;
  for (int64_t attempt = 0; attempt <= std::max<int64_t>(s.options().retries, 0); ++attempt) {
    if (attempt > 0) s.Backoff(attempt - 1);
    auto location = StartUpload(s, d, from);
    if (location.ok() && location->empty()) {
      c.tally.Count(&Summary::blobs_mounted);
      c.locations.Add(s.repo().host, s.repo().name, d.digest);
      return Status();
    }
    last = location.ok() ? UploadChunks(c, *location, d, file) : location.status();
    if (last.ok()) {
      c.tally.Count(&Summary::blobs_moved);
      c.locations.Add(s.repo().host, s.repo().name, d.digest);
      return Status();
    }
    if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded) break;
  }
  const bool retried =
      last.code() == StatusCode::kUnavailable || last.code() == StatusCode::kDeadlineExceeded;
  return Status(last.code(),
                "upload of blob " + d.digest + " to " + s.repo().host + "/" + s.repo().name + ": " +
                    last.message() +
                    (retried ? " (after " + std::to_string(s.options().retries) + " retries)" : ""));
}

// PUT the manifest under `tag`; the registry's Docker-Content-Digest must be its digest.
Status PutManifest(Session& s, const packages::TaggedManifest& m, const std::string& tag) {
  http::ClientRequest req;
  req.method = "PUT";
  req.target = "/v2/" + s.repo().name + "/manifests/" + tag;
  req.headers = {{"Content-Type", m.media_type}};
  req.body = m.bytes;
  auto r = s.Do(req);
  if (!r.ok()) return r.status();
  if (r->status != 201) return Session::Unexpected(req, *r);
  const std::string* digest = r->Header("docker-content-digest");
  if (digest != nullptr && *digest != m.digest)
    return InvalidArgument("registry " + s.repo().host + " stored manifest " + tag + " as " + *digest +
                           ", not " + m.digest);
  return Status();
}

Status PushTag(PushContext& c, const std::string& tag, const Options& options, Summary* summary) {
  packages::LayoutLimits limits;
  limits.max_manifest_bytes = options.max_manifest_bytes;
  limits.max_blob_bytes = options.max_blob_bytes;
  auto m = packages::ReadTaggedManifest(c.layout, tag, limits);
  if (!m.ok()) return m.status();
  auto info = ParseManifest(m->bytes);
  if (!info.ok())
    return Status(info.status().code(),
                  "manifest " + tag + " in " + c.layout.string() + ": " + info.status().message());
  if (info->is_index)
    return Unimplemented("tag " + tag + " in " + c.layout.string() +
                         " is an image index: push an image manifest");
  std::vector<Descriptor> blobs = UniqueBlobs(info->blobs);
  for (const auto& d : blobs) {
    c.tally.AddTotal(d.size);
    c.tally.Count(&Summary::blobs);
  }
  if (Status st =
          ForEachBlob(blobs, options.concurrency, [&](const Descriptor& d) { return PushBlob(c, d); });
      !st.ok())
    return st;
  if (Status st = PutManifest(c.session, *m, tag); !st.ok()) return st;
  if (summary->manifest_digest.empty()) summary->manifest_digest = m->digest;
  return Status();
}

}  // namespace

StatusOr<Summary> Push(const std::string& ref, const Options& options) {
  auto reference = packages::ParseReference(ref);
  if (!reference.ok()) return reference.status();
  auto repo = SplitRepository(reference->repository);
  if (!repo.ok()) return repo.status();
  auto session = Session::Open(options, *repo, "pull,push");
  if (!session.ok()) return session.status();
  Locations locations(options.state_file, options.max_state_entries);
  Tally tally(options);
  const std::filesystem::path layout = options.layout;
  PushContext c{**session, locations, tally, layout};
  Summary summary;
  Status st = PushTag(c, reference->tag, options, &summary);
  if (st.ok()) {
    auto tags = packages::ListLayout(layout);
    if (!tags.ok()) return tags.status();
    const std::string sig = packages::SignatureTag(summary.manifest_digest);
    for (const auto& e : *tags) {
      if (e.tag != sig) continue;
      st = PushTag(c, sig, options, &summary);
      summary.signature = st.ok();
      break;
    }
  }
  Status saved = locations.Save();  // what was learnt holds even after a failure
  if (!st.ok()) return st;
  if (!saved.ok()) return saved;
  Summary counts = tally.Take();
  counts.manifest_digest = summary.manifest_digest;
  counts.signature = summary.signature;
  return counts;
}

}  // namespace continuum::registry
