// Packages in an OCI image layout (opencontainers/image-spec image-layout.md): `oci-layout`,
// `index.json` (one manifest per tag, named by org.opencontainers.image.ref.name) and
// `blobs/sha256/<hex>`. Every file is written to a temporary name and renamed into place, so a
// reader never sees half a blob or half an index; blobs already present are verified, not
// trusted. Reading checks every digest and size and that every file the manifest lists is there.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "packages/package.h"

namespace continuum::packages {

struct LayoutLimits {
  int64_t max_manifest_bytes = 4 << 20;  // manifest, config and index.json each
  int64_t max_blob_bytes = int64_t{64} << 30;
};

// Writes the package's blobs and manifest into `layout_dir` (created if missing) and tags the
// manifest `tag` in index.json, replacing an older manifest of the same tag and keeping others.
Status WriteLayout(const std::filesystem::path& layout_dir, const Package& package, const std::string& tag);

struct LayoutEntry {
  std::string tag;
  std::string digest;
};
// The tagged manifests of index.json, in its order.
StatusOr<std::vector<LayoutEntry>> ListLayout(const std::filesystem::path& layout_dir,
                                              LayoutLimits limits = {});

// Reads and verifies the package tagged `tag`: blobs' `source` names their file in the layout.
// kNotFound: no layout, no such tag, or a blob the manifest lists is missing; kInvalidArgument:
// a digest or size that does not match, a document that is not what the spec wants, a filepath
// that leaves the package (absolute, ".."); kPayloadTooLarge: a limit exceeded.
StatusOr<Package> ReadLayout(const std::filesystem::path& layout_dir, const std::string& tag,
                             LayoutLimits limits = {});

// The parts WriteLayout is made of, for manifests of any kind (a cosign signature, a manifest
// pulled from a registry). One writer at a time per layout: Open takes an exclusive flock on the
// layout folder (other processes and threads wait), held until the writer is destroyed.
class LayoutWriter {
 public:
  // Creates the layout (oci-layout, blobs/sha256) if missing and locks it.
  static StatusOr<std::unique_ptr<LayoutWriter>> Open(const std::filesystem::path& layout,
                                                      LayoutLimits limits = {});
  ~LayoutWriter();
  LayoutWriter(const LayoutWriter&) = delete;
  LayoutWriter& operator=(const LayoutWriter&) = delete;

  const std::filesystem::path& layout() const { return layout_; }
  // The path of blob `digest`; kInvalidArgument for a digest that is not sha256:<64 lower-case hex>.
  StatusOr<std::filesystem::path> PathOf(std::string_view digest) const;
  // True when the blob is present with this size and its bytes hash to `digest`.
  bool Has(std::string_view digest, int64_t size) const;
  // A folder inside the layout (".continuum-ingest", created on demand, same file system) for
  // partial downloads and other files on their way into the layout.
  std::filesystem::path IngestDir() const;
  // Stores bytes held in memory as a blob (written to a temporary name, renamed into place);
  // returns "sha256:<hex>".
  StatusOr<std::string> PutBytes(std::string_view bytes);
  // How Adopt knows that `file` hashes to the digest it is adopted as.
  enum class AdoptCheck {
    kRehash,  // Adopt reads the file again and hashes it
    // The caller hashed exactly the bytes it wrote to `file` (a download hashed as it streamed to
    // the file, a resumed one with the kept prefix read back and hashed) and found `digest`:
    // Adopt checks the size and syncs, and does not read the file a second time. Safe as long as
    // nothing but the caller wrote the file: files in IngestDir() are written only by the holder
    // of this writer's lock, and the size check catches a file cut short or grown since.
    kCallerHashed,
  };
  // Moves the finished `file` (on the layout's file system, e.g. in IngestDir()) into place as blob
  // `digest` after checking its size and hash (see AdoptCheck) and syncing it; kInvalidArgument
  // when they differ (the file is then removed). A blob already present and verified is kept and
  // `file` removed.
  Status Adopt(const std::filesystem::path& file, std::string_view digest, int64_t size,
               AdoptCheck check = AdoptCheck::kRehash);
  // Writes blob `b` from its `source` file or its `data` (see Blob), verifying a blob already there.
  Status Put(const Blob& b);
  // Stores `manifest` as a blob and points `tag` at it in index.json (replacing that tag, keeping
  // the others). index.json is replaced by rename, so readers see the old or the new index.
  Status Tag(std::string_view manifest, std::string_view media_type, const std::string& tag);

  // What Prune did.
  struct PruneResult {
    int64_t untagged = 0;       // index.json entries removed
    int64_t blobs_removed = 0;  // blob files removed
    int64_t bytes_freed = 0;    // their sizes
  };
  // Removes the index.json entries whose tag `drop` names, then every blob that no remaining entry
  // reaches (its manifest, that manifest's config and layers, and the manifests of an image index,
  // recursively). index.json is replaced first (rename, then the folder synced), so a crash in
  // between leaves only unreachable blobs, which the next Prune removes. Nothing is removed when a
  // kept manifest cannot be read (an error instead): a blob is deleted only when known unneeded.
  StatusOr<PruneResult> Prune(const std::function<bool(const std::string& tag)>& drop);

 private:
  LayoutWriter(std::filesystem::path layout, int lock_fd, LayoutLimits limits);
  std::filesystem::path layout_;
  int lock_fd_;
  LayoutLimits limits_;
};

struct TaggedManifest {
  std::string bytes;
  std::string digest;
  std::string media_type;
};
// The manifest tagged `tag`, its bytes verified against index.json's digest and size. kNotFound
// when the layout or the tag is missing.
StatusOr<TaggedManifest> ReadTaggedManifest(const std::filesystem::path& layout, const std::string& tag,
                                            LayoutLimits limits = {});

// A small blob's bytes, verified: kNotFound when missing, kInvalidArgument when corrupt,
// kPayloadTooLarge over `max_bytes`.
StatusOr<std::string> ReadBlobBytes(const std::filesystem::path& layout, std::string_view digest,
                                    int64_t max_bytes);

// The tag cosign stores a manifest's signature under: "sha256-<hex>.sig" for "sha256:<hex>".
std::string SignatureTag(std::string_view manifest_digest);

}  // namespace continuum::packages
