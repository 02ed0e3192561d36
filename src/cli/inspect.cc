// `continuum inspect REF [--layout DIR] [--hardware SPEC] [--json]`: prints a package of the
// layout (its files, its variants with their requirements) and which variant this node would
// install and why (packages/variants.h), with the files that variant lays out.
#include <cstdio>
#include <map>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "common/json_writer.h"
#include "packages/layout.h"
#include "packages/package.h"
#include "packages/variants.h"

namespace continuum::cli {
namespace {

namespace pk = packages;

constexpr char kUsage[] =
    "usage: continuum inspect REF [--layout DIR] [--hardware SPEC] [--json]\n\n"
    "Prints the package tagged with REF's tag in the OCI image layout DIR: its files, its variants\n"
    "(best first) with what each requires, and which variant this node would install and why, with\n"
    "the files that variant lays out in a model repository. The hardware is detected (CPU features,\n"
    "the execution providers ONNX Runtime offers, memory) unless --hardware declares it:\n"
    "  'cpu_architecture=x86_64;cpu_features=avx2,avx512_vnni;execution_providers=cpu;memory_mb=8192'\n"
    "Exit status 2: usage, 1: no such package, or no variant runs on this hardware.";

struct Inspection {
  pk::Reference reference;
  std::string layout;
  pk::Package package;
  std::vector<pk::Variant> variants;
  pk::Hardware hardware;
  StatusOr<pk::VariantChoice> choice = Internal("not chosen");
  std::vector<pk::Blob> install;  // the chosen variant's layers, at their repository paths
};

std::map<std::string, std::string> VariantOfFile(const std::vector<pk::Variant>& variants) {
  std::map<std::string, std::string> out;
  for (const pk::Variant& v : variants) {
    for (const std::string& f : v.files) out[f] = v.name;
  }
  return out;
}

void WriteRequirements(JsonWriter& w, const pk::Requirements& r) {
  w.BeginObject();
  if (!r.cpu_architecture.empty()) w.Key("cpu_architecture").String(r.cpu_architecture);
  w.Key("cpu_features").BeginArray();
  for (const std::string& f : r.cpu_features) w.String(f);
  w.EndArray().Key("execution_providers").BeginArray();
  for (const std::string& ep : r.execution_providers) w.String(ep);
  w.EndArray();
  if (r.memory_mb > 0) w.Key("memory_mb").Int(r.memory_mb);
  w.EndObject();
}

void WriteHardware(JsonWriter& w, const pk::Hardware& hw) {
  w.BeginObject().Key("cpu_architecture").String(hw.cpu_architecture).Key("cpu_features").BeginArray();
  for (const std::string& f : hw.cpu_features) w.String(f);
  w.EndArray().Key("execution_providers").BeginArray();
  for (const std::string& ep : hw.execution_providers) w.String(ep);
  w.EndArray().Key("memory_mb").Int(hw.memory_mb).Key("source").String(hw.source).EndObject();
}

std::string InspectionJson(const Inspection& in) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("choice");
  if (in.choice.ok()) {
    w.BeginObject().Key("name").String(in.choice->name).Key("reason").String(in.choice->reason);
    w.Key("rejected").BeginArray();
    for (const auto& [name, why] : in.choice->rejected)
      w.BeginObject().Key("name").String(name).Key("why").String(why).EndObject();
    w.EndArray().EndObject();
  } else {
    w.Null().Key("error").String(in.choice.status().message());
  }
  auto variant_of = VariantOfFile(in.variants);
  w.Key("files").BeginArray();
  for (const pk::Blob& b : in.package.layers) {
    auto it = variant_of.find(b.filepath());
    w.BeginObject().Key("digest").String(b.digest).Key("media_type").String(b.media_type);
    w.Key("path").String(b.filepath()).Key("size").Int(b.size);
    w.Key("variant").String(it == variant_of.end() ? "" : it->second).EndObject();
  }
  w.EndArray().Key("hardware");
  WriteHardware(w, in.hardware);
  w.Key("install").BeginArray();
  for (const pk::Blob& b : in.install)
    w.BeginObject().Key("digest").String(b.digest).Key("path").String(b.filepath()).EndObject();
  w.EndArray().Key("layout").String(in.layout).Key("manifest_digest").String(in.package.manifest_digest);
  w.Key("reference").String(in.reference.ToString()).Key("variants").BeginArray();
  for (const pk::Variant& v : in.variants) {
    w.BeginObject().Key("files").BeginArray();
    for (const std::string& f : v.files) w.String(f);
    w.EndArray().Key("name").String(v.name).Key("precision").String(v.precision).Key("requires");
    WriteRequirements(w, v.needs);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

void PrintText(const Inspection& in) {
  std::printf("package %s (tag %s in %s)\nmanifest %s\n\nfiles:\n", in.reference.ToString().c_str(),
              in.reference.tag.c_str(), in.layout.c_str(), in.package.manifest_digest.c_str());
  auto variant_of = VariantOfFile(in.variants);
  for (const pk::Blob& b : in.package.layers) {
    auto it = variant_of.find(b.filepath());
    std::string owner = in.variants.empty()      ? ""
                        : it == variant_of.end() ? "  (shared)"
                                                 : "  (variant " + it->second + ")";
    std::printf("  %12lld  %s%s\n", static_cast<long long>(b.size), b.filepath().c_str(), owner.c_str());
  }
  if (in.variants.empty()) {
    std::printf("\nvariants: none (one implicit variant \"default\" holds every file)\n");
  } else {
    std::printf("\nvariants, best first:\n");
    for (size_t i = 0; i < in.variants.size(); ++i) {
      const pk::Variant& v = in.variants[i];
      std::printf("  %zu. %s  precision %s  requires %s  (%zu files)\n", i + 1, v.name.c_str(),
                  v.precision.c_str(), pk::RequirementsString(v.needs).c_str(), v.files.size());
    }
  }
  std::printf("\nhardware (%s): %s\n", in.hardware.source.c_str(), pk::HardwareString(in.hardware).c_str());
  if (!in.choice.ok()) {
    std::printf("would install: nothing: %s\n", in.choice.status().message().c_str());
    return;
  }
  std::printf("would install: %s\n  why: %s\n", in.choice->name.c_str(), in.choice->reason.c_str());
  for (const auto& [name, why] : in.choice->rejected)
    std::printf("  passed over %s: %s\n", name.c_str(), why.c_str());
  std::printf("  laid out as:\n");
  for (const pk::Blob& b : in.install) std::printf("    %s\n", b.filepath().c_str());
}

}  // namespace

int Inspect(const std::vector<std::string>& args) {
  std::string layout = "packages", hardware;
  bool json = false;
  Flags f;
  f.String("layout", &layout, "the OCI image layout that holds the package");
  f.String("hardware", &hardware, "declare this node's hardware instead of detecting it (see above)");
  f.Bool("json", &json, "print JSON");
  std::vector<std::string> flag_args, positional;
  f.Split(args, {}, &flag_args, &positional);
  if (auto code = f.ParseOrExplain("inspect", kUsage, flag_args)) return *code;
  if (positional.size() != 1) {
    f.Explain("inspect", kUsage, InvalidArgument("give one package reference"));
    return 2;
  }
  Inspection in;
  in.layout = layout;
  auto reference = pk::ParseReference(positional[0]);
  if (!reference.ok()) return PrintError("inspect", reference.status());
  in.reference = *reference;
  auto hw = hardware.empty() ? pk::DetectHardware() : pk::ParseHardware(hardware);
  if (!hw.ok()) return PrintError("inspect", hw.status());
  in.hardware = *hw;
  auto package = pk::ReadLayout(layout, in.reference.tag);
  if (!package.ok()) return PrintError("inspect", package.status(), 1);
  in.package = std::move(package).value();
  auto variants = pk::PackageVariants(in.package);
  if (!variants.ok()) return PrintError("inspect", variants.status(), 1);
  in.variants = std::move(variants).value();
  in.choice = pk::ChooseVariant(in.package, in.hardware);
  if (in.choice.ok()) {
    auto install = pk::VariantLayers(in.package, in.choice->name);
    if (!install.ok()) return PrintError("inspect", install.status(), 1);
    in.install = std::move(install).value();
  }
  if (json) {
    std::printf("%s\n", InspectionJson(in).c_str());
  } else {
    PrintText(in);
  }
  if (!in.choice.ok()) return PrintError("inspect", in.choice.status(), 1);
  return 0;
}

}  // namespace continuum::cli
