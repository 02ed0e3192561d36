#include "packages/variants.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/test_temp_dir.h"
#include "packages/layout.h"
#include "packages/test_util.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::WriteFile;

constexpr char kVariantsJson[] = R"({"variants": [
  {"name": "fp16", "precision": "fp16", "requires": {"execution_providers": ["cuda"], "memory_mb": 4096}},
  {"name": "int8", "precision": "int8", "requires": {"cpu_features": ["avx512_vnni"], "cpu_architecture": "x86_64"}},
  {"name": "fp32", "precision": "fp32"}]})";

PackOptions Options() {
  PackOptions o;
  o.reference = *ParseReference("localhost:5000/models/add_sub:1");
  o.created_at = "2026-01-02T03:04:05Z";
  return o;
}

fs::path TestModel(const std::string& name) {
  return fs::path(CONTINUUM_TEST_MODELS) / name / "1" / "model.onnx";
}

// A model folder with config.json, README.md, variants.json and fp16, int8 and fp32 variant
// folders (each add_sub, with different bytes so that their layers differ).
void MakeVariantFolder(const fs::path& dir, const std::string& variants_json = kVariantsJson) {
  WriteFile(dir / "config.json", R"({"schema_version": 1, "max_batch_size": 0})");
  WriteFile(dir / "README.md", "add_sub\n");
  WriteFile(dir / "variants.json", variants_json);
  for (const char* v : {"fp16", "int8", "fp32"}) {
    fs::create_directories(dir / "variants" / v / "1");
    fs::copy_file(TestModel("add_sub"), dir / "variants" / v / "1" / "model.onnx");
    WriteFile(dir / "variants" / v / "1" / "NOTES.txt", std::string("variant ") + v + "\n");
  }
}

Hardware Declared(const std::string& spec) {
  auto hw = ParseHardware(spec);
  EXPECT_TRUE(hw.ok()) << hw.status().ToString();
  return hw.ok() ? *hw : Hardware{};
}

TEST(VariantsJsonTest, ParsesVariantsBestFirst) {
  auto v = ParseVariantsJson(kVariantsJson);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[0].name, "fp16");
  EXPECT_EQ((*v)[0].needs.execution_providers, std::vector<std::string>{"cuda"});
  EXPECT_EQ((*v)[0].needs.memory_mb, 4096);
  EXPECT_EQ((*v)[1].needs.cpu_features, std::vector<std::string>{"avx512_vnni"});
  EXPECT_EQ((*v)[1].needs.cpu_architecture, "x86_64");
  EXPECT_EQ((*v)[2].precision, "fp32");
  EXPECT_EQ(RequirementsString((*v)[2].needs), "nothing");
}

TEST(VariantsJsonTest, RefusesBadInputNamingTheField) {
  struct Case {
    const char* json;
    const char* says;
  };
  for (
      const Case& c : std::vector<Case>{
          {R"({"variants": []})", "variants: lists no variant"},
          {R"({"variants": [{"name": "a", "precision": "fp64"}]})",
           "variants[0].precision: unknown precision 'fp64'"},
          {R"({"variants": [{"name": "A", "precision": "fp32"}]})",
           "variants[0].name: 'A' is not a variant name"},
          {R"({"variants": [{"name": "a", "precision": "fp32"}, {"name": "a", "precision": "int8"}]})",
           "variants[1].name: 'a' is listed twice"},
          {R"({"variants": [{"name": "a", "precision": "int8", "requires": {"cpu_features": ["avx2", "vnni"]}}]})",
           "variants[0].requires.cpu_features[1]: unknown CPU feature 'vnni'"},
          {R"({"variants": [{"name": "a", "precision": "int8", "requires": {"execution_providers": ["tpu"]}}]})",
           "unknown execution provider 'tpu'"},
          {R"({"variants": [{"name": "a", "precision": "int8", "requires": {"gpu": true}}]})",
           "variants[0].requires.gpu: unknown field"},
          {R"({"variants": [{"name": "a", "precision": "int8", "requires": {"memory_mb": 0}}]})",
           "variants[0].requires.memory_mb"},
          {R"({"variants": [{"name": "a"}]})", "variants[0].precision: required"},
          {R"({"variant": []})", "variant: unknown field"},
      }) {
    auto v = ParseVariantsJson(c.json);
    ASSERT_FALSE(v.ok()) << c.json;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(v.status().message().find(c.says), std::string::npos) << v.status().message();
    EXPECT_EQ(v.status().message().rfind("variants.json: ", 0), 0u) << v.status().message();
  }
  VariantLimits limits;
  limits.max_variants = 2;
  auto many = ParseVariantsJson(kVariantsJson, limits);
  EXPECT_NE(many.status().message().find("more than the limit of 2"), std::string::npos);
}

TEST(HardwareTest, ParsesTheDeclaredForm) {
  auto hw = ParseHardware(
      "cpu_architecture=x86_64; cpu_features=avx2,avx512_vnni;execution_providers=cuda;memory_mb=8192");
  ASSERT_TRUE(hw.ok()) << hw.status().ToString();
  EXPECT_EQ(hw->cpu_architecture, "x86_64");
  EXPECT_EQ(hw->cpu_features, (std::set<std::string>{"avx2", "avx512_vnni"}));
  EXPECT_EQ(hw->execution_providers, (std::set<std::string>{"cpu", "cuda"}));
  EXPECT_EQ(hw->memory_mb, 8192);
  EXPECT_EQ(hw->source, "declared");
  EXPECT_EQ(
      HardwareString(*hw),
      "cpu_architecture=x86_64;cpu_features=avx2,avx512_vnni;execution_providers=cpu,cuda;memory_mb=8192");
  auto round = ParseHardware(HardwareString(*hw));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->cpu_features, hw->cpu_features);
  auto bare = ParseHardware("");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->execution_providers, std::set<std::string>{"cpu"});
  EXPECT_EQ(bare->memory_mb, 0);
}

TEST(HardwareTest, RefusesBadDeclarations) {
  for (const char* bad : {"cpu_features=avx3", "gpu=1", "memory_mb=lots", "memory_mb=0", "cpu_features",
                          "cpu_architecture=riscv64", "execution_providers=tpu", "memory_mb=1;memory_mb=2"}) {
    auto hw = ParseHardware(bad);
    EXPECT_EQ(hw.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(hw.status().message().rfind("hardware: ", 0), 0u) << hw.status().message();
  }
}

// The kernel's /proc/cpuinfo flags for the features both name the same way.
TEST(HardwareTest, DetectionAgreesWithTheKernel) {
  auto hw = DetectHardware();
  ASSERT_TRUE(hw.ok()) << hw.status().ToString();
  EXPECT_TRUE(hw->execution_providers.count("cpu"));
  EXPECT_GT(hw->memory_mb, 0);
#if defined(__x86_64__)
  EXPECT_EQ(hw->cpu_architecture, "x86_64");
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  ASSERT_FALSE(flags.empty());
  for (const char* f : {"avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                        "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"}) {
    EXPECT_EQ(hw->cpu_features.count(f), flags.count(f)) << f;
  }
  EXPECT_EQ(hw->cpu_features.count("sse4_2"), flags.count("sse4_2"));
#endif
}

class VariantPackTest : public ::testing::Test {
 protected:
  continuum::testing::TempDir tmp_{"variants-"};
  fs::path model_ = tmp_.path() / "add_sub";

  Package Pack() {
    auto p = PackModelFolder(model_, Options());
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : Package{};
  }
  Status PackError() {
    auto p = PackModelFolder(model_, Options());
    return p.ok() ? Status::Ok() : p.status();
  }
};

TEST_F(VariantPackTest, RecordsEachVariantsFilesAndRequirements) {
  MakeVariantFolder(model_);
  Package p = Pack();
  std::vector<std::string> paths;
  for (const Blob& b : p.layers) paths.push_back(b.filepath());
  EXPECT_EQ(paths, (std::vector<std::string>{"README.md", "config.json", "continuum-package.json",
                                             "variants/fp16/1/NOTES.txt", "variants/fp16/1/model.onnx",
                                             "variants/fp32/1/NOTES.txt", "variants/fp32/1/model.onnx",
                                             "variants/int8/1/NOTES.txt", "variants/int8/1/model.onnx"}));
  auto v = PackageVariants(p);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 3u);
  EXPECT_EQ((*v)[1].name, "int8");
  EXPECT_EQ((*v)[1].files,
            (std::vector<std::string>{"variants/int8/1/NOTES.txt", "variants/int8/1/model.onnx"}));
  EXPECT_EQ((*v)[1].needs.cpu_features, std::vector<std::string>{"avx512_vnni"});
  EXPECT_EQ(Pack().manifest_digest, p.manifest_digest);  // deterministic
}

TEST_F(VariantPackTest, ChoosesTheFirstVariantWhoseRequirementsHold) {
  MakeVariantFolder(model_);
  Package p = Pack();
  auto vnni =
      ChooseVariant(p, Declared("cpu_architecture=x86_64;cpu_features=avx2,avx512_vnni;memory_mb=8192"));
  ASSERT_TRUE(vnni.ok()) << vnni.status().ToString();
  EXPECT_EQ(vnni->name, "int8");
  ASSERT_EQ(vnni->rejected.size(), 1u);
  EXPECT_EQ(vnni->rejected[0].first, "fp16");
  EXPECT_NE(vnni->rejected[0].second.find("needs execution provider(s) cuda"), std::string::npos);
  EXPECT_NE(vnni->reason.find("cpu_features=avx512_vnni"), std::string::npos) << vnni->reason;

  auto plain = ChooseVariant(p, Declared("cpu_architecture=x86_64;cpu_features=avx2;memory_mb=8192"));
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->name, "fp32");
  ASSERT_EQ(plain->rejected.size(), 2u);
  EXPECT_NE(plain->rejected[1].second.find("needs CPU feature(s) avx512_vnni"), std::string::npos);

  auto gpu = ChooseVariant(p, Declared("cpu_features=avx512_vnni;execution_providers=cuda;memory_mb=8192"));
  EXPECT_EQ(gpu->name, "fp16");
  auto small = ChooseVariant(p, Declared("execution_providers=cuda;memory_mb=1024"));
  EXPECT_EQ(small->name, "fp32");
  EXPECT_NE(small->rejected[0].second.find("needs 4096 MB of memory, this node has 1024 MB"),
            std::string::npos);
  // int8 also needs an x86_64 CPU: an unknown architecture does not meet it.
  auto unknown_arch = ChooseVariant(p, Declared("cpu_features=avx512_vnni"));
  EXPECT_EQ(unknown_arch->name, "fp32");
  EXPECT_NE(unknown_arch->rejected[1].second.find("needs a x86_64 CPU, this node's is unknown"),
            std::string::npos);
}

TEST_F(VariantPackTest, NoVariantFitsIsAnErrorNamingEach) {
  MakeVariantFolder(model_, R"({"variants": [
    {"name": "int8", "precision": "int8", "requires": {"cpu_features": ["avx512_vnni"]}},
    {"name": "fp16", "precision": "fp16", "requires": {"execution_providers": ["cuda"]}}]})");
  fs::remove_all(model_ / "variants" / "fp32");
  Package p = Pack();
  auto c = ChooseVariant(p, Declared("cpu_features=avx2"));
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("'int8' needs CPU feature(s) avx512_vnni"), std::string::npos);
  EXPECT_NE(c.status().message().find("'fp16' needs execution provider(s) cuda"), std::string::npos);
}

TEST_F(VariantPackTest, VariantLayersLayOutTheSharedFilesAndTheVariantsOwn) {
  MakeVariantFolder(model_);
  Package p = Pack();
  auto layers = VariantLayers(p, "int8");
  ASSERT_TRUE(layers.ok()) << layers.status().ToString();
  std::map<std::string, std::string> digest_of;
  for (const Blob& b : *layers) digest_of[b.filepath()] = b.digest;
  std::map<std::string, std::string> package_digest;
  for (const Blob& b : p.layers) package_digest[b.filepath()] = b.digest;
  EXPECT_EQ(digest_of.size(), 5u);
  EXPECT_EQ(digest_of["1/NOTES.txt"], package_digest["variants/int8/1/NOTES.txt"]);
  EXPECT_NE(digest_of["1/NOTES.txt"], package_digest["variants/fp32/1/NOTES.txt"]);
  EXPECT_EQ(digest_of["1/model.onnx"], package_digest["variants/int8/1/model.onnx"]);
  EXPECT_EQ(digest_of["config.json"], package_digest["config.json"]);
  EXPECT_TRUE(digest_of.count("README.md") && digest_of.count("continuum-package.json"));
  for (const Blob& b : *layers) EXPECT_EQ(b.annotations.at(std::string(kTitleAnnotation)), b.filepath());
  EXPECT_EQ(VariantLayers(p, "int4").status().code(), StatusCode::kNotFound);
  EXPECT_NE(VariantLayers(p, "int4").status().message().find("(it has: fp16, int8, fp32)"),
            std::string::npos);
}

TEST_F(VariantPackTest, AReadBackPackageChoosesTheSame) {
  MakeVariantFolder(model_);
  Package p = Pack();
  fs::path layout = tmp_.path() / "layout";
  ASSERT_TRUE(WriteLayout(layout, p, "1").ok());
  auto read = ReadLayout(layout, "1");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  auto c = ChooseVariant(*read, Declared("cpu_architecture=x86_64;cpu_features=avx512_vnni"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "int8");
  auto layers = VariantLayers(*read, "fp32");
  ASSERT_TRUE(layers.ok());
  for (const Blob& b : *layers) EXPECT_FALSE(b.source.empty()) << b.filepath();
}

TEST_F(VariantPackTest, APackageWithoutVariantsHasOnlyDefault) {
  testing::MakeModelFolder(model_);
  Package p = Pack();
  auto v = PackageVariants(p);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->empty());
  auto c = ChooseVariant(p, Declared(""));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "default");
  EXPECT_TRUE(c->rejected.empty());
  auto layers = VariantLayers(p, "default");
  ASSERT_TRUE(layers.ok());
  ASSERT_EQ(layers->size(), p.layers.size());
  for (size_t i = 0; i < p.layers.size(); ++i) EXPECT_EQ((*layers)[i].filepath(), p.layers[i].filepath());
  EXPECT_EQ(VariantLayers(p, "fp32").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(model_ / "config.json").empty(), false);
}

TEST_F(VariantPackTest, RefusesFoldersThatDoNotMatchVariantsJson) {
  MakeVariantFolder(model_);
  fs::create_directories(model_ / "1");
  fs::copy_file(TestModel("add_sub"), model_ / "1" / "model.onnx");
  EXPECT_NE(PackError().message().find("version folders belong in a variant's folder"), std::string::npos);
  fs::remove_all(model_ / "1");

  fs::create_directories(model_ / "variants" / "int4" / "1");
  fs::copy_file(TestModel("add_sub"), model_ / "variants" / "int4" / "1" / "model.onnx");
  EXPECT_NE(PackError().message().find("'variants/int4' is not a variant that variants.json lists"),
            std::string::npos)
      << PackError().message();
  fs::remove_all(model_ / "variants" / "int4");

  fs::remove_all(model_ / "variants" / "fp16");
  EXPECT_EQ(PackError().code(), StatusCode::kNotFound);
  EXPECT_NE(PackError().message().find("variant 'fp16' has no folder"), std::string::npos);
}

TEST_F(VariantPackTest, RefusesVariantsWhoseInputsOrOutputsDiffer) {
  MakeVariantFolder(model_);
  fs::copy_file(TestModel("identity_float"), model_ / "variants" / "int8" / "1" / "model.onnx",
                fs::copy_options::overwrite_existing);
  Status st = PackError();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("has other inputs or outputs"), std::string::npos) << st.message();
}

TEST_F(VariantPackTest, RefusesAVariantFileThatShadowsASharedOne) {
  MakeVariantFolder(model_);
  WriteFile(model_ / "variants" / "int8" / "config.json", "{}");
  EXPECT_NE(PackError().message().find("would be laid out at the same path"), std::string::npos)
      << PackError().message();
}

TEST_F(VariantPackTest, RefusesBadRequirementsInVariantsJson) {
  MakeVariantFolder(model_, R"({"variants": [{"name": "fp32", "precision": "fp32",
    "requires": {"cpu_features": ["avx512vnni"]}}]})");
  Status st = PackError();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("variants.json: variants[0].requires.cpu_features[0]: unknown CPU feature"),
            std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace continuum::packages
