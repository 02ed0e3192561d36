// `continuum install`: unpacks a verified package from an OCI image layout into a model
// repository, atomically.
//
// Before anything is written: the layout is read with every digest and size checked (ReadLayout:
// missing files, corrupt blobs, paths that leave the package, a config without the ModelPack
// schema), no part of the layout is a symlink, the signature is verified (`verify`, which must be
// set: no verifier, no install), and the package is not older than the one installed for the same
// model (see IsOlder) unless `allow_downgrade`.
//
// The variant installed is ChooseVariant's for `hardware`, its files VariantLayers' (every layer,
// "default", for a package without variants).
//
// Unpacking: under an exclusive lock on REPO/.packages, the files are copied while hashed (each
// digest checked again on the bytes written) into a hidden staging folder, then fsynced; the
// folder is renamed to REPO/.packages/<model>@sha256-<hex>-<variant>, and REPO/<model> is switched to it by
// renaming a new symlink over the old one (rename(2): a reader sees the old or the new folder,
// never a mix). Staging folders and symlinks a killed install left behind are removed by the next
// install; package folders other than the current and the previous one of the model are removed.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "packages/layout.h"
#include "packages/package.h"
#include "packages/provenance.h"
#include "packages/variants.h"

namespace continuum::packages {

// Checks the signature of the package whose manifest has `manifest_digest` in `layout`.
using VerifyFn = std::function<Status(const std::filesystem::path& layout, std::string_view manifest_digest)>;

struct InstallOptions {
  std::filesystem::path layout;      // the OCI image layout holding the package
  std::filesystem::path repository;  // the model repository to install into
  VerifyFn verify;                   // required: an install without a verifier is refused
  bool allow_downgrade = false;      // install a package older than the installed one
  Hardware hardware;                 // the variant installed is ChooseVariant's for it
  LayoutLimits limits;
  int64_t max_runtime_manifest_bytes = 1 << 20;  // continuum-package.json
  int64_t max_install_record_bytes = 64 << 10;
};

struct InstallResult {
  std::string model;
  InstallRecord record;
  std::filesystem::path folder;  // REPO/.packages/<model>@sha256-<hex>-<variant>
  bool unchanged = false;        // this package was already the installed one
};

// What decides whether a package is older than the installed one: its highest model version,
// then its creation time (descriptor.createdAt, RFC 3339 UTC; compared only when both have one).
bool IsOlder(const InstallRecord& candidate, const InstallRecord& installed);

// Installs the package tagged `reference.tag` in options.layout. Errors, with nothing written to
// the repository: kUnauthenticated-like failures from `verify` as they come (kFailedPrecondition
// when no verifier is set), kNotFound (no such tag, a missing blob), kInvalidArgument (corrupt
// blob, path leaving the package, a symlink in the layout, bad schema, a model name the
// repository cannot serve), kFailedPrecondition (a downgrade, REPO/<model> not installed by a
// package, a write failure such as a full disk: the staging folder is removed and the old
// package keeps being served).
StatusOr<InstallResult> InstallPackage(const Reference& reference, const InstallOptions& options);

// Removes what packages installed of `model`: REPO/<model> when it is a package's symlink (serve
// unloads the model at its next scan), then every REPO/.packages/<model>@... folder, under the
// install lock. false, with nothing touched, when REPO/<model> is there but was not installed from
// a package; true otherwise (also when nothing was installed). kFailedPrecondition on a write error.
StatusOr<bool> UninstallModel(const std::filesystem::path& repo, const std::string& model);

}  // namespace continuum::packages
