// `continuum install REF --layout DIR --model-repository REPO --key cosign.pub`: verifies the
// package tagged REF's tag in the OCI image layout DIR and installs it atomically as a model of
// REPO (packages/install.h).
#include "packages/install.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/flags.h"
#include "packages/variants.h"
#include "signing/signing.h"

namespace continuum::cli {
namespace {

constexpr char kUsage[] =
    "usage: continuum install REF --key cosign.pub --model-repository REPO [--layout DIR] [flags]\n\n"
    "Installs the package tagged with REF's tag in the OCI image layout DIR as a model of the\n"
    "repository REPO, after checking every digest, the paths it lays out, its ModelPack config and\n"
    "its cosign signature by the public key cosign.pub. The variant is the first this machine\n"
    "(or --hardware) meets. The model is switched to the new package in one step (REPO/<model> is\n"
    "a symlink to REPO/.packages/<model>@sha256-<hex>-<variant>), so a running `continuum serve`\n"
    "sees the old or the new package, never a mix. A package older than the\n"
    "installed one (a lower highest model version, else an earlier creation time) is refused\n"
    "unless --allow-downgrade. Prints the model and the installed digest. Exit status 2: usage,\n"
    "1: refused or failed (nothing changed in REPO).";

// The signature check of every install: a cosign signature by `public_key` over exactly the
// package's manifest digest (signing/signing.h, offline).
packages::VerifyFn SignatureVerifier(const std::string& public_key) {
  return [public_key](const std::filesystem::path& layout, std::string_view manifest_digest) {
    return signing::VerifyPackageSignature(layout, manifest_digest, public_key);
  };
}

}  // namespace

int Install(const std::vector<std::string>& args) {
  std::string layout = "packages", repository, key, hardware;
  packages::InstallOptions options;
  Flags f;
  f.String("layout", &layout, "the OCI image layout holding the package");
  f.String("model-repository", &repository, "the model repository to install into (required)");
  f.String("key", &key, "the cosign public key (PEM) the package must be signed by (required)");
  f.String("hardware", &hardware,
           "choose the variant for this hardware, declared as in `continuum inspect` "
           "(cpu_features=avx2;execution_providers=cpu;...); default: this machine's, detected");
  f.Bool("allow-downgrade", &options.allow_downgrade, "install a package older than the installed one");
  f.Int("max-blob-bytes", &options.limits.max_blob_bytes, "largest file the package may hold");
  f.Int("max-manifest-bytes", &options.limits.max_manifest_bytes, "largest manifest, config and index.json");
  f.Int("max-runtime-manifest-bytes", &options.max_runtime_manifest_bytes, "largest continuum-package.json");
  std::vector<std::string> flag_args, positional;
  f.Split(args, {}, &flag_args, &positional);
  if (auto code = f.ParseOrExplain("install", kUsage, flag_args)) return *code;
  if (positional.size() != 1 || repository.empty() || key.empty()) {
    f.Explain(
        "install", kUsage,
        InvalidArgument(positional.size() != 1 ? "give one package reference"
                        : repository.empty()   ? "give --model-repository"
                                               : "give --key: install verifies every package's signature"));
    return 2;
  }
  auto reference = packages::ParseReference(positional[0]);
  if (!reference.ok()) return PrintError("install", reference.status());
  options.layout = layout;
  options.repository = repository;
  options.verify = SignatureVerifier(key);
  auto hw = hardware.empty() ? packages::DetectHardware() : packages::ParseHardware(hardware);
  if (!hw.ok()) return PrintError("install", hw.status(), hardware.empty() ? 1 : 2);
  options.hardware = *hw;
  auto result = packages::InstallPackage(*reference, options);
  if (!result.ok()) return PrintError("install", result.status(), 1);
  std::fprintf(stderr, "continuum install: %s -> %s (%s, variant %s: %s)\n", reference->ToString().c_str(),
               result->folder.c_str(), result->unchanged ? "already installed" : "installed",
               result->record.variant.c_str(), result->record.reason.c_str());
  std::printf("%s %s\n", result->model.c_str(), result->record.digest.c_str());
  return 0;
}

}  // namespace continuum::cli
