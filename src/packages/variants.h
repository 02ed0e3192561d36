// Package variants: one model in several forms (fp32, an int8 quantized one, an fp16 one for
// GPUs), each with the hardware it needs, and the choice of one for the node that installs it.
//
// Input: a model folder with variants.json (see ParseVariantsJson) and one folder per variant at
// variants/<name>/ holding that variant's version folders (variants/int8/1/model.onnx). The files
// outside variants/ are shared by every variant. The runtime manifest (continuum-package.json)
// records each variant's precision, requirements and files, in the order variants.json lists
// them: best first. A package without variants has one implicit variant "default" that holds
// every layer.
//
// Choice: the first variant, in that order, whose requirements all hold on the Hardware; the
// others are reported with why each was passed over.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "packages/package.h"

namespace continuum::packages {

inline constexpr std::string_view kVariantsFile = "variants.json";
inline constexpr std::string_view kVariantsDir = "variants";
inline constexpr std::string_view kDefaultVariant = "default";

// What a variant needs; empty or zero fields need nothing.
struct Requirements {
  std::string cpu_architecture;                  // "x86_64" or "aarch64"
  std::vector<std::string> cpu_features;         // all of them, e.g. {"avx512_vnni"}
  std::vector<std::string> execution_providers;  // all of them, e.g. {"cuda"}
  int64_t memory_mb = 0;                         // at least this much memory
};

struct Variant {
  std::string name;       // [a-z0-9][a-z0-9._-]{0,63}
  std::string precision;  // fp32, fp16, bf16, int8, uint8, int4
  Requirements needs;
  std::vector<std::string> files;  // package paths (variants/<name>/...), sorted
};

// The words the requirement parsers and Hardware accept.
const std::vector<std::string_view>& KnownCpuFeatures();
const std::vector<std::string_view>& KnownExecutionProviders();  // "cpu", "cuda"
const std::vector<std::string_view>& KnownPrecisions();

struct VariantLimits {
  int64_t max_variants = 64;
  int64_t max_variants_json_bytes = 1 << 20;
  int64_t max_runtime_manifest_bytes = 4 << 20;
};

// variants.json: {"variants": [{"name": "int8", "precision": "int8", "requires":
// {"cpu_features": ["avx512_vnni"], "execution_providers": ["cpu"], "cpu_architecture": "x86_64",
// "memory_mb": 2048}}, {"name": "fp32", "precision": "fp32"}]}, best first. Unknown fields,
// unknown feature, provider or precision words, duplicate names and a list without a variant
// are refused, each error naming the field ("variants.json: variants[0].requires.cpu_features[1]:
// ..."). `files` is left empty.
StatusOr<std::vector<Variant>> ParseVariantsJson(std::string_view text, const VariantLimits& limits = {});

// The variants the package's runtime manifest records, in its order; empty for a package without
// variants. kNotFound: no runtime manifest; kInvalidArgument: a malformed one.
StatusOr<std::vector<Variant>> PackageVariants(const Package& package, const VariantLimits& limits = {});

// What this node offers.
struct Hardware {
  std::string cpu_architecture;               // "x86_64", "aarch64"; empty: unknown
  std::set<std::string> cpu_features;         // KnownCpuFeatures() words
  std::set<std::string> execution_providers;  // "cpu" always; "cuda" when usable
  int64_t memory_mb = 0;                      // 0: unknown
  std::string source = "detected";            // "detected" or "declared"
};

// This machine: cpuid and XGETBV (x86-64) or getauxval (aarch64); the providers ONNX Runtime
// offers (Ort::GetAvailableProviders), "cuda" only with an NVIDIA driver present; memory from
// sysinfo, capped by the cgroup's memory.max.
StatusOr<Hardware> DetectHardware();

// The declared form, `key=value` pairs separated by ';': cpu_architecture=x86_64;
// cpu_features=avx2,avx512_vnni;execution_providers=cpu,cuda;memory_mb=8192. A field left out is
// unknown (empty), except execution_providers, which always holds "cpu". Unknown keys and words
// are refused.
StatusOr<Hardware> ParseHardware(std::string_view spec);

// `hw` as the declared form (fields sorted), for printing.
std::string HardwareString(const Hardware& hw);
// Why `hw` does not meet `req`, one clause per unmet requirement; empty when it does.
std::string UnmetRequirements(const Requirements& req, const Hardware& hw);
// `req` as "cpu_features=avx512_vnni; execution_providers=cpu", or "nothing".
std::string RequirementsString(const Requirements& req);

struct VariantChoice {
  std::string name;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> rejected;  // {name, why}, in the package's order
};

// The first variant whose requirements all hold on `hw`. kFailedPrecondition, naming every
// variant and why, when none does; errors of PackageVariants.
StatusOr<VariantChoice> ChooseVariant(const Package& package, const Hardware& hw);

// The layers that make up `variant` (the shared files plus that variant's own), with the
// filepath each is laid out at in the model repository: variants/<name>/1/model.onnx becomes
// 1/model.onnx. For "default" of a package without variants, every layer as it is. kNotFound:
// no such variant; kInvalidArgument: a file the manifest lists that the package lacks, or two
// files laid out at one path.
StatusOr<std::vector<Blob>> VariantLayers(const Package& package, const std::string& variant);

}  // namespace continuum::packages
