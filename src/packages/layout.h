// Packages in an OCI image layout (opencontainers/image-spec image-layout.md): `oci-layout`,
// `index.json` (one manifest per tag, named by org.opencontainers.image.ref.name) and
// `blobs/sha256/<hex>`. Every file is written to a temporary name and renamed into place, so a
// reader never sees half a blob or half an index; blobs already present are verified, not
// trusted. Reading checks every digest and size and that every file the manifest lists is there.
#pragma once

#include <filesystem>
#include <string>
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

}  // namespace continuum::packages
