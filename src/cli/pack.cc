// `continuum pack DIR -t REF [--output LAYOUT]`: packs a repository model folder, or a catalog
// entry with its models, as a CNCF ModelPack artifact into an OCI image layout and prints the
// manifest digest.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "cli/commands.h"
#include "cli/flags.h"
#include "packages/layout.h"
#include "packages/package.h"

namespace continuum::cli {
namespace {

constexpr char kUsage[] =
    "usage: continuum pack DIR -t REF [--output LAYOUT] [--model-repository REPO] [flags]\n\n"
    "Packs the repository model folder DIR (config.json and version folders with model.onnx), or the\n"
    "catalog entry DIR (catalog.json and its assets) with the models it names from REPO, as a CNCF\n"
    "ModelPack artifact into the OCI image layout LAYOUT, tagged with REF's tag, and prints the\n"
    "manifest digest. The same files and creation time always give the same digest: the time comes\n"
    "from --created-at or SOURCE_DATE_EPOCH, never the clock. Exit status 2: usage, 1: failure.";

}  // namespace

int Pack(const std::vector<std::string>& args) {
  std::string ref, output = "packages", created_at, repository;
  packages::PackOptions options;
  Flags f;
  f.String("tag", &ref, "the package reference, e.g. localhost:5000/models/add_sub:1 (also -t)");
  f.String("output", &output, "the OCI image layout to write (created if missing)");
  f.String("model-repository", &repository,
           "where a catalog entry's models are (needed for a catalog entry)");
  f.String("created-at", &created_at,
           "creation time, seconds since 1970 (default: $SOURCE_DATE_EPOCH, else none)");
  f.String("architecture", &options.architecture,
           "config.architecture of the ModelPack config (default: none)");
  f.Int("max-files", &options.max_files, "most files the model folder may hold");
  f.Int("max-file-bytes", &options.max_file_bytes, "largest file the model folder may hold");
  f.Int("max-catalog-json-bytes", &options.max_catalog_json_bytes, "largest catalog.json of a catalog entry");
  f.Int("max-variants", &options.max_variants, "most variants a model folder's variants.json may list");
  f.Int("max-variants-json-bytes", &options.max_variants_json_bytes,
        "largest variants.json of a model folder");
  std::vector<std::string> flag_args, positional;
  f.Split(args, {{"-t", "--tag"}}, &flag_args, &positional);  // DIR and the flags
  if (auto code = f.ParseOrExplain("pack", kUsage, flag_args)) return *code;
  if (positional.size() != 1 || ref.empty()) {
    f.Explain("pack", kUsage,
              InvalidArgument(positional.size() != 1 ? "give one model folder" : "give -t REF"));
    return 2;
  }
  auto reference = packages::ParseReference(ref);
  if (!reference.ok()) return PrintError("pack", reference.status());
  options.reference = *reference;
  if (created_at.empty()) {
    if (const char* env = std::getenv("SOURCE_DATE_EPOCH"); env != nullptr) created_at = env;
  }
  if (!created_at.empty()) {
    auto t = packages::CreatedAtFromEpoch(created_at);
    if (!t.ok()) return PrintError("pack", t.status());
    options.created_at = *t;
  }
  std::error_code ec;
  bool catalog_entry = std::filesystem::exists(std::filesystem::path(positional[0]) / "catalog.json", ec);
  if (catalog_entry && repository.empty()) {
    f.Explain("pack", kUsage,
              InvalidArgument(positional[0] + " is a catalog entry: give --model-repository"));
    return 2;
  }
  auto package = catalog_entry ? packages::PackCatalogEntry(positional[0], repository, options)
                               : packages::PackModelFolder(positional[0], options);
  if (!package.ok()) {
    bool usage = package.status().code() == StatusCode::kNotFound &&
                 package.status().message().find("is not a folder") != std::string::npos;
    return PrintError("pack", package.status(), usage ? 2 : 1);
  }
  if (Status st = packages::WriteLayout(output, *package, options.reference.tag); !st.ok()) {
    return PrintError("pack", st, 1);
  }
  std::fprintf(stderr, "continuum pack: %s -> %s (tag %s, %zu layers)\n",
               options.reference.ToString().c_str(), output.c_str(), options.reference.tag.c_str(),
               package->layers.size());
  std::printf("%s\n", package->manifest_digest.c_str());
  return 0;
}

}  // namespace continuum::cli
