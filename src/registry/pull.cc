// Pull: the manifest (digest checked), each blob streamed into the layout's ingest folder as
// <hex>.partial while hashing, resumed after a cut (Range + If-Range), checked and adopted; the
// tag written last; then the signature tag when the registry has one.
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <system_error>

#include "common/sha256.h"
#include "packages/digest.h"
#include "packages/layout.h"
#include "packages/package.h"
#include "registry/client.h"
#include "registry/internal.h"
#include "registry/session.h"
#include "registry/transfer.h"

namespace continuum::registry {
namespace {

namespace fs = std::filesystem;

struct PullContext {
  Session& session;
  packages::LayoutWriter& writer;
  Locations& locations;
  Tally& tally;
};

class Hasher {
 public:
  Hasher() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { Reset(); }
  void Reset() { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }
  std::string Final() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &n);
    return "sha256:" + HexEncode(std::string_view(reinterpret_cast<const char*>(out), n));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

struct Fetched {
  std::string bytes, digest, media_type;
};

// GET /v2/<name>/manifests/<reference>; its digest checked against Docker-Content-Digest and,
// for a digest reference, the reference.
StatusOr<Fetched> FetchManifest(Session& s, const std::string& reference) {
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/" + s.repo().name + "/manifests/" + reference;
  req.headers = {{"Accept", kManifestAccept}};
  req.max_response_bytes = static_cast<size_t>(s.options().max_manifest_bytes);
  auto r = s.Do(req);
  if (!r.ok()) {
    if (r.status().message().find("body limit") != std::string::npos)
      return PayloadTooLarge("manifest " + s.repo().host + "/" + s.repo().name + ":" + reference +
                             " is larger than --max-manifest-bytes " +
                             std::to_string(s.options().max_manifest_bytes));
    return r.status();
  }
  if (r->status != 200) return Session::Unexpected(req, *r);
  Fetched f{std::move(r->body), "", ""};
  f.digest = packages::DigestOf(f.bytes);
  const std::string* said = r->Header("docker-content-digest");
  if (said != nullptr && *said != f.digest)
    return InvalidArgument("manifest " + reference + " from " + s.repo().host + " hashes to " + f.digest +
                           ", the registry says " + *said);
  if (IsSha256Digest(reference) && reference != f.digest)
    return InvalidArgument("manifest " + reference + " from " + s.repo().host + " hashes to " + f.digest);
  if (const std::string* type = r->Header("content-type"); type != nullptr)
    f.media_type = type->substr(0, type->find(';'));
  return f;
}

// Hashes the first `n` bytes of `file` into `h`.
Status HashPrefix(const fs::path& file, int64_t n, Hasher* h) {
  std::ifstream in(file, std::ios::binary);
  std::string buf(1 << 20, '\0');
  while (n > 0 && in) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<int64_t>(n, static_cast<int64_t>(buf.size()))));
    h->Update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
    n -= in.gcount();
  }
  return n == 0 ? Status() : FailedPrecondition("cannot read " + file.string());
}

// One GET of the blob into `partial`, resuming from its length when `etag_file` says from what.
// Ok once the whole blob is there and its bytes hash to the digest; Unavailable (retryable, the
// partial file kept) for a dropped or short answer.
Status DownloadOnce(PullContext& c, const Descriptor& d, const fs::path& partial, const fs::path& etag_file) {
  std::error_code ec;
  int64_t have = fs::exists(etag_file, ec) && fs::exists(partial, ec)
                     ? static_cast<int64_t>(fs::file_size(partial, ec))
                     : 0;
  if (ec || have >= d.size) have = 0;
  Hasher hasher;
  if (have > 0)
    if (Status st = HashPrefix(partial, have, &hasher); !st.ok()) return st;
  std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(partial.c_str(), have > 0 ? "ab" : "wb"),
                                                         &std::fclose);
  if (!out) return FailedPrecondition("cannot write " + partial.string());
  std::string etag;
  if (have > 0) {
    std::ifstream in(etag_file);
    std::getline(in, etag);
  }
  http::ClientRequest req;
  req.method = "GET";
  req.target = "/v2/" + c.session.repo().name + "/blobs/" + d.digest;
  if (have > 0) {
    req.headers.emplace_back("Range", "bytes=" + std::to_string(have) + "-");
    if (!etag.empty()) req.headers.emplace_back("If-Range", etag);
  }
  req.max_response_bytes = static_cast<size_t>(std::max<int64_t>(d.size, 1));
  bool started = false;
  int64_t written = 0, unsynced = 0;
  req.body_sink = [&](const http::ClientResponse& head, std::string_view piece) -> Status {
    if (!started) {
      started = true;
      if (have > 0) {
        auto action = ResumeDecision(head.status, head.Header("content-range"), have, d.size);
        if (!action.ok()) return action.status();
        if (*action == ResumeAction::kStartOver) {  // the server sent the whole blob: start clean
          if (::ftruncate(::fileno(out.get()), 0) != 0)
            return FailedPrecondition("cannot truncate " + partial.string());
          std::fseek(out.get(), 0, SEEK_SET);
          hasher.Reset();
          have = 0;
        }
      } else if (head.status != 200) {
        return InvalidArgument("answer " + std::to_string(head.status) + " to a GET of the whole blob " +
                               d.digest);
      }
      if (have == 0) {  // what a later resume checks the blob against
        std::ofstream e(etag_file, std::ios::trunc);
        const std::string* tag = head.Header("etag");
        e << (tag ? *tag : "") << '\n';
      }
    }
    if (written + have + static_cast<int64_t>(piece.size()) > d.size)
      return InvalidArgument("blob " + d.digest + " from " + c.session.repo().host + " is longer than its " +
                             std::to_string(d.size) + " bytes");
    if (std::fwrite(piece.data(), 1, piece.size(), out.get()) != piece.size())
      return FailedPrecondition("cannot write " + partial.string());
    const int64_t every = c.session.options().writeback_bytes;
    if (every > 0 && unsynced + static_cast<int64_t>(piece.size()) >= every && std::fflush(out.get()) != 0)
      return FailedPrecondition("cannot write " + partial.string());
    if (Status st = StartWriteback(::fileno(out.get()), static_cast<int64_t>(piece.size()), every, &unsynced);
        !st.ok())
      return Status(st.code(), partial.string() + ": " + st.message());
    hasher.Update(piece);
    written += static_cast<int64_t>(piece.size());
    c.tally.Moved(static_cast<int64_t>(piece.size()));
    return Status();
  };
  auto r = c.session.Do(req, /*retry=*/false);
  if (std::fflush(out.get()) != 0) return FailedPrecondition("cannot write " + partial.string());
  out.reset();
  if (!r.ok() && r.status().message().find("body limit") != std::string::npos)
    return InvalidArgument("blob " + d.digest + " from " + c.session.repo().host + " is longer than its " +
                           std::to_string(d.size) + " bytes");
  if (!r.ok()) return r.status();
  if (r->status == 416) {  // the partial file is no prefix the server knows: start over
    fs::remove(partial, ec);
    fs::remove(etag_file, ec);
    return Unavailable("the registry refused the range from byte " + std::to_string(have));
  }
  if (r->status != 200 && r->status != 206) return Session::Unexpected(req, *r);
  if (!started && have == 0 && d.size == 0) {
    std::ofstream e(etag_file, std::ios::trunc);
  }
  if (have + written != d.size)
    return Unavailable("the answer ended after " + std::to_string(have + written) + " of " +
                       std::to_string(d.size) + " bytes");
  std::string got = hasher.Final();
  if (got != d.digest) {
    fs::remove(partial, ec);
    fs::remove(etag_file, ec);
    return InvalidArgument("blob " + d.digest + " from " + c.session.repo().host + "/" +
                           c.session.repo().name + " hashes to " + got + ": not adopted");
  }
  return Status();
}

Status PullBlob(PullContext& c, const Descriptor& d) {
  Session& s = c.session;
  c.locations.Add(s.repo().host, s.repo().name, d.digest);
  if (c.writer.Has(d.digest, d.size)) {
    c.tally.Count(&Summary::blobs_present);
    return Status();
  }
  if (d.size > s.options().max_blob_bytes)
    return PayloadTooLarge("blob " + d.digest + " has " + std::to_string(d.size) +
                           " bytes, over --max-blob-bytes " + std::to_string(s.options().max_blob_bytes));
  const fs::path partial = c.writer.IngestDir() / (d.digest.substr(7) + ".partial");
  const fs::path etag_file = c.writer.IngestDir() / (d.digest.substr(7) + ".etag");
  Status last;
  const int64_t retries = std::max<int64_t>(s.options().retries, 0);
  for (int64_t attempt = 0; attempt <= retries; ++attempt) {
    if (attempt > 0) s.Backoff(attempt - 1);
    last = DownloadOnce(c, d, partial, etag_file);
    if (last.ok() ||
        (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded))
      break;
  }
  if (!last.ok())
    return Status(last.code(), "download of blob " + d.digest + " from " + s.repo().host + "/" +
                                   s.repo().name + ": " + last.message() +
                                   (last.code() == StatusCode::kUnavailable
                                        ? " (after " + std::to_string(retries) + " retries)"
                                        : ""));
  // DownloadOnce hashed every byte of `partial` (the kept prefix read back, the rest as it was
  // written) and found d.digest: the writer checks the size and syncs without reading it again.
  if (Status st =
          c.writer.Adopt(partial, d.digest, d.size, packages::LayoutWriter::AdoptCheck::kCallerHashed);
      !st.ok())
    return st;
  std::error_code ec;
  fs::remove(etag_file, ec);
  c.tally.Count(&Summary::blobs_moved);
  return Status();
}

// The blobs of the manifest `m`; an index's manifests are fetched and stored as blobs too.
Status PullTree(PullContext& c, const Fetched& m, int depth) {
  auto info = ParseManifest(m.bytes);
  if (!info.ok())
    return Status(info.status().code(), "manifest " + m.digest + ": " + info.status().message());
  std::vector<Descriptor> blobs = UniqueBlobs(info->blobs);
  for (const auto& d : blobs) {
    c.tally.AddTotal(d.size);
    c.tally.Count(&Summary::blobs);
  }
  const Options& o = c.session.options();
  if (Status st = ForEachBlob(blobs, o.concurrency, [&](const Descriptor& d) { return PullBlob(c, d); });
      !st.ok())
    return st;
  for (const auto& child : info->children) {
    if (depth > 0) return InvalidArgument("image index " + m.digest + " nests indexes: not supported");
    auto f = FetchManifest(c.session, child.digest);
    if (!f.ok()) return f.status();
    if (Status st = PullTree(c, *f, depth + 1); !st.ok()) return st;
    auto stored = c.writer.PutBytes(f->bytes);
    if (!stored.ok()) return stored.status();
  }
  return Status();
}

// Pulls the manifest `fetch` names (a tag or a digest) with its blobs and tags it `tag` in the
// layout; NotFound when the registry lacks it.
StatusOr<std::string> PullTag(PullContext& c, const std::string& fetch, const std::string& tag) {
  auto m = FetchManifest(c.session, fetch);
  if (!m.ok()) return m.status();
  if (Status st = PullTree(c, *m, 0); !st.ok()) return st;
  std::string media_type = m->media_type;
  if (auto info = ParseManifest(m->bytes); info.ok() && !info->media_type.empty())
    media_type = info->media_type;
  if (media_type.empty()) media_type = std::string(packages::kManifestMediaType);
  if (Status st = c.writer.Tag(m->bytes, media_type, tag); !st.ok()) return st;
  return m->digest;
}

}  // namespace

StatusOr<PullReference> ParsePullReference(std::string_view ref, std::string_view layout_tag) {
  const size_t at = ref.find('@');
  if (at == std::string_view::npos) {
    auto r = packages::ParseReference(ref);
    if (!r.ok()) return r.status();
    PullReference out{r->repository, r->tag, r->tag};
    if (!layout_tag.empty()) {
      auto t = packages::ParseReference(r->repository + ":" + std::string(layout_tag));
      if (!t.ok()) return t.status();
      out.tag = t->tag;
    }
    return out;
  }
  const std::string_view digest = ref.substr(at + 1);
  if (!IsSha256Digest(digest))
    return InvalidArgument("reference " + Quoted(ref) + ": the digest is not sha256:<64 hex>");
  if (layout_tag.empty())
    return InvalidArgument("reference " + Quoted(ref) +
                           " names a digest: give the tag it gets in the layout");
  auto r = packages::ParseReference(std::string(ref.substr(0, at)) + ":" + std::string(layout_tag));
  if (!r.ok()) return r.status();
  return PullReference{r->repository, std::string(digest), r->tag};
}

StatusOr<Summary> Pull(const std::string& ref, const Options& options) {
  auto reference = ParsePullReference(ref, options.tag);
  if (!reference.ok()) return reference.status();
  auto repo = SplitRepository(reference->repository);
  if (!repo.ok()) return repo.status();
  auto session = Session::Open(options, *repo, "pull");
  if (!session.ok()) return session.status();
  packages::LayoutLimits limits;
  limits.max_manifest_bytes = options.max_manifest_bytes;
  limits.max_blob_bytes = options.max_blob_bytes;
  auto writer = packages::LayoutWriter::Open(options.layout, limits);
  if (!writer.ok()) return writer.status();
  std::error_code ec;
  fs::create_directories((*writer)->IngestDir(), ec);
  Locations locations(options.state_file, options.max_state_entries);
  Tally tally(options);
  PullContext c{**session, **writer, locations, tally};
  auto digest = PullTag(c, reference->fetch, reference->tag);
  bool signature = false;
  if (digest.ok()) {
    const std::string sig_tag = packages::SignatureTag(*digest);
    auto sig = PullTag(c, sig_tag, sig_tag);
    const bool no_signature = sig.status().code() == StatusCode::kNotFound &&
                              sig.status().message().find("/manifests/sha256-") != std::string::npos;
    if (sig.ok()) {
      signature = true;
    } else if (!no_signature) {
      digest = sig.status();
    }
  }
  Status saved = locations.Save();
  if (!digest.ok()) {
    if (digest.status().code() == StatusCode::kNotFound &&
        digest.status().message().find("/manifests/") != std::string::npos)
      return NotFound(reference->repository + (IsSha256Digest(reference->fetch) ? "@" : ":") +
                      reference->fetch + " is not on the registry: " + digest.status().message());
    return digest.status();
  }
  if (!saved.ok()) return saved;
  Summary summary = tally.Take();
  summary.manifest_digest = *digest;
  summary.signature = signature;
  return summary;
}

}  // namespace continuum::registry
