// Variants: variants.json, the runtime manifest's record of them, the choice for a node and the
// layers a variant is made of. Hardware detection and the declared form are in hardware.cc.
#include "packages/variants.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <system_error>

#include "common/config_reader.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool ValidName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && s[0] != '.' && s[0] != '_' && s[0] != '-' &&
         std::all_of(s.begin(), s.end(), NameChar);
}

bool Known(const std::vector<std::string_view>& words, std::string_view w) {
  return std::find(words.begin(), words.end(), w) != words.end();
}

std::string Join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

std::string Join(const std::vector<std::string>& words, std::string_view sep = ",") {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : std::string(sep)) + w;
  return out;
}

// A list of known words, without repeats, sorted.
StatusOr<std::vector<std::string>> WordList(const config::Reader& r, config::Element e,
                                            const std::string& field,
                                            const std::vector<std::string_view>& known,
                                            std::string_view what) {
  ASSIGN_OR_RETURN(std::vector<std::string> words, r.StringList(e, field));
  for (size_t i = 0; i < words.size(); ++i) {
    if (!Known(known, words[i])) {
      return r.Err(config::Index(field, i),
                   "unknown " + std::string(what) + " " + Quoted(words[i]) + " (known: " + Join(known) + ")");
    }
  }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return words;
}

StatusOr<Requirements> ParseRequirements(const config::Reader& r, config::Element e,
                                         const std::string& where) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(
      r.CheckKeys(o, where, {"cpu_architecture", "cpu_features", "execution_providers", "memory_mb"}));
  Requirements req;
  if (auto v = config::Find(o, "cpu_architecture")) {
    std::string field = config::Key(where, "cpu_architecture");
    ASSIGN_OR_RETURN(req.cpu_architecture, r.String(*v, field, true));
    if (req.cpu_architecture != "x86_64" && req.cpu_architecture != "aarch64") {
      return r.Err(field,
                   "unknown architecture " + Quoted(req.cpu_architecture) + " (known: x86_64, aarch64)");
    }
  }
  if (auto v = config::Find(o, "cpu_features")) {
    ASSIGN_OR_RETURN(req.cpu_features,
                     WordList(r, *v, config::Key(where, "cpu_features"), KnownCpuFeatures(), "CPU feature"));
  }
  if (auto v = config::Find(o, "execution_providers")) {
    ASSIGN_OR_RETURN(req.execution_providers, WordList(r, *v, config::Key(where, "execution_providers"),
                                                       KnownExecutionProviders(), "execution provider"));
  }
  if (auto v = config::Find(o, "memory_mb")) {
    ASSIGN_OR_RETURN(req.memory_mb, r.Int(*v, config::Key(where, "memory_mb"), 1, int64_t{1} << 40));
  }
  return req;
}

// The variants array of variants.json or of the runtime manifest; `with_files` for the latter.
StatusOr<std::vector<Variant>> ParseVariantList(const config::Reader& r, config::Element e, bool with_files,
                                                const VariantLimits& limits) {
  ASSIGN_OR_RETURN(config::Array a, r.Array(e, "variants"));
  if (a.size() == 0) return r.Err("variants", "lists no variant; give at least one");
  if (static_cast<int64_t>(a.size()) > limits.max_variants) {
    return r.Err("variants", "lists " + std::to_string(a.size()) + " variants, more than the limit of " +
                                 std::to_string(limits.max_variants));
  }
  std::vector<Variant> out;
  size_t i = 0;
  for (config::Element item : a) {
    std::string where = config::Index("variants", i++);
    ASSIGN_OR_RETURN(config::Object o, r.Object(item, where));
    if (with_files) {
      RETURN_IF_ERROR(r.CheckKeys(o, where, {"files", "name", "precision", "requires"}));
    } else {
      RETURN_IF_ERROR(r.CheckKeys(o, where, {"name", "precision", "requires"}));
    }
    Variant v;
    ASSIGN_OR_RETURN(auto name, r.Required(o, where, "name"));
    ASSIGN_OR_RETURN(v.name, r.String(name, config::Key(where, "name"), true));
    if (!ValidName(v.name)) {
      return r.Err(
          config::Key(where, "name"),
          Quoted(v.name) + " is not a variant name: 1 to 64 of a-z 0-9 . _ -, starting with a-z or 0-9");
    }
    for (const Variant& other : out) {
      if (other.name == v.name) return r.Err(config::Key(where, "name"), Quoted(v.name) + " is listed twice");
    }
    ASSIGN_OR_RETURN(auto precision, r.Required(o, where, "precision"));
    ASSIGN_OR_RETURN(v.precision, r.String(precision, config::Key(where, "precision"), true));
    if (!Known(KnownPrecisions(), v.precision)) {
      return r.Err(config::Key(where, "precision"),
                   "unknown precision " + Quoted(v.precision) + " (known: " + Join(KnownPrecisions()) + ")");
    }
    if (auto req = config::Find(o, "requires")) {
      ASSIGN_OR_RETURN(v.needs, ParseRequirements(r, *req, config::Key(where, "requires")));
    }
    if (with_files) {
      ASSIGN_OR_RETURN(auto files, r.Required(o, where, "files"));
      ASSIGN_OR_RETURN(v.files, r.StringList(files, config::Key(where, "files")));
    }
    out.push_back(std::move(v));
  }
  return out;
}

StatusOr<std::string> RuntimeManifestBytes(const Package& package, int64_t max_bytes) {
  for (const Blob& b : package.layers) {
    if (b.filepath() != kRuntimeManifestPath) continue;
    if (b.size > max_bytes) {
      return PayloadTooLarge(std::string(kRuntimeManifestPath) + " is " + std::to_string(b.size) +
                             " bytes, more than the limit of " + std::to_string(max_bytes));
    }
    if (b.source.empty()) return b.data;
    std::ifstream in(b.source, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (!in && !in.eof()) return FailedPrecondition("cannot read " + Quoted(b.source.string()));
    return text;
  }
  return NotFound("the package has no runtime manifest (" + std::string(kRuntimeManifestPath) + ")");
}

std::string PackagePrefix(const std::string& variant) {
  return std::string(kVariantsDir) + "/" + variant + "/";
}

}  // namespace

const std::vector<std::string_view>& KnownPrecisions() {
  static const std::vector<std::string_view> kWords = {"bf16", "fp16", "fp32", "int4", "int8", "uint8"};
  return kWords;
}

const std::vector<std::string_view>& KnownExecutionProviders() {
  static const std::vector<std::string_view> kWords = {"cpu", "cuda"};
  return kWords;
}

StatusOr<std::vector<Variant>> ParseVariantsJson(std::string_view text, const VariantLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_variants_json_bytes) {
    return InvalidArgument(std::string(kVariantsFile) + " is " + std::to_string(text.size()) +
                           " bytes, more than the limit of " +
                           std::to_string(limits.max_variants_json_bytes));
  }
  config::Reader r(std::string(kVariantsFile) + ": ");
  ASSIGN_OR_RETURN(config::Object o, r.ParseObject(text, {"variants"}));
  ASSIGN_OR_RETURN(auto list, r.Required(o, "", "variants"));
  return ParseVariantList(r, list, false, limits);
}

StatusOr<std::vector<Variant>> PackageVariants(const Package& package, const VariantLimits& limits) {
  ASSIGN_OR_RETURN(std::string text, RuntimeManifestBytes(package, limits.max_runtime_manifest_bytes));
  config::Reader r(std::string(kRuntimeManifestPath) + ": ");
  config::Object o;
  RETURN_IF_ERROR(r.Parse(text, &o));
  auto list = config::Find(o, "variants");
  if (!list) return std::vector<Variant>{};
  return ParseVariantList(r, *list, true, limits);
}

std::string RequirementsString(const Requirements& req) {
  std::vector<std::string> parts;
  if (!req.cpu_architecture.empty()) parts.push_back("cpu_architecture=" + req.cpu_architecture);
  if (!req.cpu_features.empty()) parts.push_back("cpu_features=" + Join(req.cpu_features));
  if (!req.execution_providers.empty())
    parts.push_back("execution_providers=" + Join(req.execution_providers));
  if (req.memory_mb > 0) parts.push_back("memory_mb=" + std::to_string(req.memory_mb));
  return parts.empty() ? "nothing" : Join(parts, "; ");
}

std::string UnmetRequirements(const Requirements& req, const Hardware& hw) {
  std::vector<std::string> why;
  if (!req.cpu_architecture.empty() && req.cpu_architecture != hw.cpu_architecture) {
    why.push_back("needs a " + req.cpu_architecture + " CPU, this node's is " +
                  (hw.cpu_architecture.empty() ? std::string("unknown") : hw.cpu_architecture));
  }
  std::vector<std::string> missing;
  for (const std::string& f : req.cpu_features) {
    if (!hw.cpu_features.count(f)) missing.push_back(f);
  }
  if (!missing.empty())
    why.push_back("needs CPU feature(s) " + Join(missing) + ", which this node's CPU lacks");
  missing.clear();
  for (const std::string& ep : req.execution_providers) {
    if (!hw.execution_providers.count(ep)) missing.push_back(ep);
  }
  if (!missing.empty()) {
    why.push_back("needs execution provider(s) " + Join(missing) +
                  ", which ONNX Runtime does not offer here");
  }
  if (req.memory_mb > 0 && hw.memory_mb < req.memory_mb) {
    why.push_back(
        "needs " + std::to_string(req.memory_mb) + " MB of memory, this node has " +
        (hw.memory_mb == 0 ? std::string("an unknown amount") : std::to_string(hw.memory_mb) + " MB"));
  }
  return Join(why, "; ");
}

StatusOr<VariantChoice> ChooseVariant(const Package& package, const Hardware& hw) {
  ASSIGN_OR_RETURN(std::vector<Variant> variants, PackageVariants(package));
  VariantChoice choice;
  if (variants.empty()) {
    choice.name = std::string(kDefaultVariant);
    choice.reason = "the package has no variants; its one variant 'default' holds every file";
    return choice;
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    const Variant& v = variants[i];
    std::string why = UnmetRequirements(v.needs, hw);
    if (!why.empty()) {
      choice.rejected.emplace_back(v.name, why);
      continue;
    }
    choice.name = v.name;
    choice.reason =
        Quoted(v.name) + " (" + v.precision + ") is the " +
        (i == 0 ? std::string("package's first choice") : "first variant in the package's order") +
        " whose requirements all hold on this node (" + hw.source + " hardware); it needs " +
        RequirementsString(v.needs);
    return choice;
  }
  std::string all;
  for (const auto& [name, why] : choice.rejected) all += (all.empty() ? "" : "; ") + Quoted(name) + " " + why;
  return FailedPrecondition("no variant of the package runs on this node (" + hw.source + " hardware " +
                            HardwareString(hw) + "): " + all);
}

StatusOr<std::vector<Blob>> VariantLayers(const Package& package, const std::string& variant) {
  ASSIGN_OR_RETURN(std::vector<Variant> variants, PackageVariants(package));
  if (variants.empty()) {
    if (variant != kDefaultVariant) {
      return NotFound("the package has no variant " + Quoted(variant) +
                      ": it has no variants, only \"default\"");
    }
    return package.layers;
  }
  auto it =
      std::find_if(variants.begin(), variants.end(), [&](const Variant& v) { return v.name == variant; });
  if (it == variants.end()) {
    std::string names;
    for (const Variant& v : variants) names += (names.empty() ? "" : ", ") + v.name;
    return NotFound("the package has no variant " + Quoted(variant) + " (it has: " + names + ")");
  }
  std::map<std::string, const Blob*> by_path;
  for (const Blob& b : package.layers) by_path[b.filepath()] = &b;
  std::vector<Blob> out;
  std::map<std::string, std::string> laid_out;  // repository path -> package path
  auto add = [&](const Blob& b, std::string path) -> Status {
    auto [at, fresh] = laid_out.emplace(path, b.filepath());
    if (!fresh) {
      return InvalidArgument("variant " + Quoted(variant) + ": " + Quoted(b.filepath()) + " and " +
                             Quoted(at->second) + " would both be laid out at " + Quoted(path));
    }
    Blob copy = b;
    copy.annotations[std::string(kFilepathAnnotation)] = path;
    copy.annotations[std::string(kTitleAnnotation)] = path;
    out.push_back(std::move(copy));
    return Status::Ok();
  };
  for (const Blob& b : package.layers) {
    if (b.filepath().rfind(std::string(kVariantsDir) + "/", 0) != 0) RETURN_IF_ERROR(add(b, b.filepath()));
  }
  const std::string prefix = PackagePrefix(variant);
  for (const std::string& f : it->files) {
    auto found = by_path.find(f);
    if (found == by_path.end()) {
      return InvalidArgument("variant " + Quoted(variant) + ": the runtime manifest lists " + Quoted(f) +
                             ", which the package does not hold");
    }
    if (f.rfind(prefix, 0) != 0 || f.size() == prefix.size()) {
      return InvalidArgument("variant " + Quoted(variant) + ": " + Quoted(f) + " is not under " +
                             Quoted(prefix));
    }
    RETURN_IF_ERROR(add(*found->second, f.substr(prefix.size())));
  }
  std::sort(out.begin(), out.end(), [](const Blob& a, const Blob& b) { return a.filepath() < b.filepath(); });
  return out;
}

}  // namespace continuum::packages
