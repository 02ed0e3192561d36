#include "packages/package.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>

#include "common/sha256.h"
#include "common/test_temp_dir.h"
#include "packages/test_util.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;
using testing::MakeModelFolder;
using testing::ReadFile;
using testing::WriteFile;

PackOptions Options(std::string created_at = "2026-01-02T03:04:05Z") {
  PackOptions o;
  o.reference = *ParseReference("localhost:5000/models/add_sub:1");
  o.created_at = std::move(created_at);
  return o;
}

std::string Digest(const fs::path& p) { return "sha256:" + Sha256Hex(ReadFile(p)); }

TEST(ReferenceTest, SplitsRepositoryAndTag) {
  auto r = ParseReference("localhost:5000/models/add_sub:1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->repository, "localhost:5000/models/add_sub");
  EXPECT_EQ(r->tag, "1");
  auto latest = ParseReference("localhost:5000/add_sub");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->repository, "localhost:5000/add_sub");
  EXPECT_EQ(latest->tag, "latest");
}

TEST(ReferenceTest, RefusesBadReferences) {
  for (const char* bad : {"", "repo@sha256:abcd", "repo:", "repo:-x", "repo/", ":1", "repo:t!"}) {
    auto r = ParseReference(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CreatedAtTest, FormatsEpochSecondsAsRfc3339) {
  EXPECT_EQ(*CreatedAtFromEpoch("0"), "1970-01-01T00:00:00Z");
  EXPECT_EQ(*CreatedAtFromEpoch("1767323045"), "2026-01-02T03:04:05Z");
  for (const char* bad : {"", "-1", "12x", "1.5"}) {
    EXPECT_EQ(CreatedAtFromEpoch(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LayerMediaTypeTest, FollowsTheModelPackLayerTypes) {
  EXPECT_EQ(LayerMediaType("1/model.onnx"), kWeightMediaType);
  EXPECT_EQ(LayerMediaType("1/weights.bin"), kWeightMediaType);
  EXPECT_EQ(LayerMediaType("config.json"), kWeightConfigMediaType);
  EXPECT_EQ(LayerMediaType("vocab.txt"), kWeightConfigMediaType);
  EXPECT_EQ(LayerMediaType("README.md"), kDocMediaType);
  EXPECT_EQ(LayerMediaType("LICENSE"), kDocMediaType);
  EXPECT_EQ(LayerMediaType("export.py"), kCodeMediaType);
  EXPECT_EQ(LayerMediaType("labels.bin"), kWeightConfigMediaType);
}

TEST(PackTest, ManifestIsExactlyTheModelPackImageManifest) {
  continuum::testing::TempDir tmp("packages-");
  fs::path dir = tmp.path() / "add_sub";
  MakeModelFolder(dir);
  auto p = PackModelFolder(dir, Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->layers.size(), 5u);
  const Blob& runtime = p->layers[4];
  ASSERT_EQ(runtime.filepath(), kRuntimeManifestPath);
  auto layer = [&](const std::string& path, std::string_view media_type, const std::string& digest,
                   size_t size) {
    return R"({"annotations":{"org.cncf.model.filepath":")" + path +
           R"(","org.opencontainers.image.title":")" + path + R"("},"digest":")" + digest +
           R"(","mediaType":")" + std::string(media_type) + R"(","size":)" + std::to_string(size) + "}";
  };
  std::string model = ReadFile(dir / "1" / "model.onnx");
  std::string expected =
      R"({"annotations":{"org.opencontainers.image.created":"2026-01-02T03:04:05Z"},)"
      R"("artifactType":"application/vnd.cncf.model.manifest.v1+json",)"
      R"("config":{"digest":")" +
      p->config.digest + R"(","mediaType":"application/vnd.cncf.model.config.v1+json","size":)" +
      std::to_string(p->config.size) + R"(},"layers":[)" +
      layer("1/model.onnx", kWeightMediaType, Digest(dir / "1" / "model.onnx"), model.size()) + "," +
      layer("2/model.onnx", kWeightMediaType, Digest(dir / "2" / "model.onnx"), model.size()) + "," +
      layer("README.md", kDocMediaType, Digest(dir / "README.md"), ReadFile(dir / "README.md").size()) + "," +
      layer("config.json", kWeightConfigMediaType, Digest(dir / "config.json"),
            ReadFile(dir / "config.json").size()) +
      "," +
      layer(std::string(kRuntimeManifestPath), kWeightConfigMediaType, runtime.digest, runtime.data.size()) +
      R"(],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2})";
  EXPECT_EQ(p->manifest, expected);
  EXPECT_EQ(p->manifest_digest, "sha256:" + Sha256Hex(p->manifest));
  EXPECT_EQ(p->config.digest, "sha256:" + Sha256Hex(p->config.data));
  EXPECT_EQ(runtime.digest, "sha256:" + Sha256Hex(runtime.data));
}

// The required fields and closed property sets of modelpack/model-spec schema/config-schema.json.
TEST(PackTest, ConfigFollowsTheModelPackConfigSchema) {
  continuum::testing::TempDir tmp("packages-");
  fs::path dir = tmp.path() / "add_sub";
  MakeModelFolder(dir);
  PackOptions o = Options();
  o.architecture = "mlp";
  auto p = PackModelFolder(dir, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  simdjson::dom::parser parser;
  simdjson::dom::object config;
  ASSERT_FALSE(parser.parse(p->config.data).get(config)) << p->config.data;
  auto keys = [](simdjson::dom::object o) {
    std::set<std::string> k;
    for (auto f : o) k.insert(std::string(f.key));
    return k;
  };
  EXPECT_EQ(keys(config), (std::set<std::string>{"config", "descriptor", "modelfs"}));
  std::set<std::string> descriptor_allowed = {"createdAt", "authors",     "family",     "name",     "docURL",
                                              "sourceURL", "datasetsURL", "version",    "revision", "vendor",
                                              "licenses",  "title",       "description"};
  simdjson::dom::object descriptor, model_config, modelfs;
  ASSERT_FALSE(config["descriptor"].get(descriptor));
  ASSERT_FALSE(config["config"].get(model_config));
  ASSERT_FALSE(config["modelfs"].get(modelfs));
  for (const auto& k : keys(descriptor)) EXPECT_TRUE(descriptor_allowed.count(k)) << k;
  std::set<std::string> config_allowed = {"architecture", "format",       "paramSize",
                                          "precision",    "quantization", "transformerConfig",
                                          "capabilities"};
  for (const auto& k : keys(model_config)) EXPECT_TRUE(config_allowed.count(k)) << k;
  EXPECT_EQ(std::string_view(config["config"]["format"].get_string().value()), "onnx");
  EXPECT_EQ(std::string_view(config["config"]["architecture"].get_string().value()), "mlp");
  EXPECT_EQ(std::string_view(config["descriptor"]["name"].get_string().value()), "add_sub");
  EXPECT_EQ(std::string_view(config["descriptor"]["version"].get_string().value()), "1");
  EXPECT_EQ(std::string_view(config["descriptor"]["createdAt"].get_string().value()), "2026-01-02T03:04:05Z");
  EXPECT_EQ(keys(modelfs), (std::set<std::string>{"diffIds", "type"}));
  EXPECT_EQ(std::string_view(modelfs["type"].get_string().value()), "layers");
  std::vector<std::string> diff_ids;
  simdjson::dom::array ids;
  ASSERT_FALSE(modelfs["diffIds"].get(ids));
  for (auto d : ids) diff_ids.emplace_back(std::string_view(d.get_string().value()));
  ASSERT_EQ(diff_ids.size(), p->layers.size());  // minItems 1, one per layer
  for (size_t i = 0; i < diff_ids.size(); ++i) EXPECT_EQ(diff_ids[i], p->layers[i].digest);
}

TEST(PackTest, RuntimeManifestCarriesTheModelsInputsOutputsAndLimits) {
  continuum::testing::TempDir tmp("packages-");
  fs::path dir = tmp.path() / "add_sub";
  MakeModelFolder(dir);
  auto p = PackModelFolder(dir, Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  simdjson::dom::parser parser;
  simdjson::dom::element m = parser.parse(p->layers.back().data).value();
  EXPECT_EQ(int64_t(m["schema_version"].get_int64().value()), 1);
  EXPECT_EQ(std::string_view(m["task"].get_string().value()), "infer");
  EXPECT_FALSE(std::string_view(m["min_onnxruntime_version"].get_string().value()).empty());
  EXPECT_TRUE(m["catalog"].error());  // a plain model: no catalog entry
  simdjson::dom::element model = m["models"].at(0).value();
  EXPECT_EQ(int64_t(model["limits"]["max_queue_size"].get_int64().value()), 256);
  EXPECT_EQ(std::string_view(model["name"].get_string().value()), "add_sub");
  EXPECT_EQ(model["versions"].get_array().value().size(), 2u);
  simdjson::dom::element v1 = model["versions"].at(0).value();
  EXPECT_EQ(std::string_view(v1["path"].get_string().value()), "1/model.onnx");
  EXPECT_EQ(std::string_view(v1["inputs"].at(0)["name"].get_string().value()), "INPUT0");
  EXPECT_EQ(std::string_view(v1["inputs"].at(0)["datatype"].get_string().value()), "FP32");
  EXPECT_EQ(std::string_view(v1["outputs"].at(1)["name"].get_string().value()), "OUTPUT1");
}

TEST(PackTest, SameInputsGiveTheSameDigest) {
  continuum::testing::TempDir tmp("packages-");
  MakeModelFolder(tmp.path() / "a" / "add_sub");
  auto first = PackModelFolder(tmp.path() / "a" / "add_sub", Options());
  // The same files written again elsewhere, later: other inodes, other times.
  MakeModelFolder(tmp.path() / "b" / "add_sub");
  auto second = PackModelFolder(tmp.path() / "b" / "add_sub", Options());
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->manifest_digest, second->manifest_digest);
  EXPECT_EQ(first->manifest, second->manifest);
  auto later = PackModelFolder(tmp.path() / "b" / "add_sub", Options("2026-01-02T03:04:06Z"));
  ASSERT_TRUE(later.ok());
  EXPECT_NE(later->manifest_digest, first->manifest_digest);
  WriteFile(tmp.path() / "b" / "add_sub" / "README.md", "changed\n");
  auto changed = PackModelFolder(tmp.path() / "b" / "add_sub", Options());
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->manifest_digest, first->manifest_digest);
}

TEST(PackTest, RefusesWhatIsNotAModelFolder) {
  continuum::testing::TempDir tmp("packages-");
  auto missing = PackModelFolder(tmp.path() / "nope", Options());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("is not a folder"), std::string::npos);

  WriteFile(tmp.path() / "empty" / "config.json", "{}");
  auto no_model = PackModelFolder(tmp.path() / "empty", Options());
  EXPECT_EQ(no_model.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_model.status().message().find("no model"), std::string::npos) << no_model.status().message();

  WriteFile(tmp.path() / "broken" / "1" / "model.onnx", "not a model");
  auto broken = PackModelFolder(tmp.path() / "broken", Options());
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("1/model.onnx does not load"), std::string::npos);

  fs::path linked = tmp.path() / "linked";
  MakeModelFolder(linked);
  fs::create_symlink("/etc/passwd", linked / "notes.txt");
  auto symlink = PackModelFolder(linked, Options());
  EXPECT_EQ(symlink.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(symlink.status().message().find("symlink"), std::string::npos);

  fs::path clash = tmp.path() / "clash";
  MakeModelFolder(clash);
  WriteFile(clash / std::string(kRuntimeManifestPath), "{}");
  EXPECT_EQ(PackModelFolder(clash, Options()).status().code(), StatusCode::kInvalidArgument);

  fs::path many = tmp.path() / "many";
  MakeModelFolder(many);
  PackOptions few = Options();
  few.max_files = 3;
  auto too_many = PackModelFolder(many, few);
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("limit of 3 files"), std::string::npos);
}

TEST(PackTest, HiddenFilesAreLeftOut) {
  continuum::testing::TempDir tmp("packages-");
  fs::path dir = tmp.path() / "add_sub";
  MakeModelFolder(dir);
  auto before = PackModelFolder(dir, Options());
  WriteFile(dir / ".git" / "HEAD", "ref: refs/heads/main\n");
  WriteFile(dir / ".DS_Store", "x");
  auto after = PackModelFolder(dir, Options());
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(before->manifest_digest, after->manifest_digest);
}

TEST(PackCatalogTest, PacksTheEntryWithItsModels) {
  continuum::testing::TempDir tmp("packages-");
  fs::path repo = tmp.path() / "models";
  MakeModelFolder(repo / "add_sub");
  fs::create_directories(repo / "int_add");
  fs::copy(fs::path(CONTINUUM_TEST_MODELS) / "int_add", repo / "int_add", fs::copy_options::recursive);
  fs::path entry = tmp.path() / "catalog" / "add";
  WriteFile(entry / "catalog.json",
            R"({"schema_version": 1, "name": "@local/add", "task": "text-classification", "license": "MIT",
                "description": "adds", "models": {"float": "add_sub", "int": "int_add"},
                "settings": {"labels": "labels.txt"}})");
  WriteFile(entry / "labels.txt", "a\nb\n");
  auto p = PackCatalogEntry(entry, repo, Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::vector<std::string> paths;
  for (const Blob& b : p->layers) paths.push_back(b.filepath());
  EXPECT_EQ(paths, (std::vector<std::string>{"catalog/catalog.json", "catalog/labels.txt",
                                             std::string(kRuntimeManifestPath), "models/add_sub/1/model.onnx",
                                             "models/add_sub/2/model.onnx", "models/add_sub/README.md",
                                             "models/add_sub/config.json", "models/int_add/1/model.onnx"}));
  EXPECT_EQ(p->layers[3].media_type, kWeightMediaType);
  EXPECT_EQ(p->layers[5].media_type, kDocMediaType);
  simdjson::dom::parser parser;
  simdjson::dom::element m = parser.parse(p->layers[2].data).value();
  EXPECT_EQ(std::string_view(m["task"].get_string().value()), "text-classification");
  EXPECT_EQ(std::string_view(m["catalog"]["name"].get_string().value()), "@local/add");
  EXPECT_EQ(std::string_view(m["catalog"]["models"]["int"].get_string().value()), "int_add");
  EXPECT_EQ(std::string_view(m["models"].at(1)["versions"].at(0)["path"].get_string().value()),
            "models/int_add/1/model.onnx");
  EXPECT_EQ(
      std::string_view(m["models"].at(1)["versions"].at(0)["inputs"].at(0)["datatype"].get_string().value()),
      "INT64");
  simdjson::dom::parser config_parser;
  simdjson::dom::element config = config_parser.parse(p->config.data).value();
  EXPECT_EQ(std::string_view(config["descriptor"]["description"].get_string().value()), "adds");
  EXPECT_EQ(std::string_view(config["descriptor"]["licenses"].at(0).get_string().value()), "MIT");
  auto again = PackCatalogEntry(entry, repo, Options());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->manifest_digest, p->manifest_digest);
}

TEST(PackCatalogTest, SaysWhichPartIsWrong) {
  continuum::testing::TempDir tmp("packages-");
  fs::path repo = tmp.path() / "models";
  MakeModelFolder(repo / "add_sub");
  fs::path entry = tmp.path() / "entry";
  auto no_entry = PackCatalogEntry(entry, repo, Options());
  EXPECT_EQ(no_entry.status().code(), StatusCode::kNotFound);
  fs::create_directories(entry);
  no_entry = PackCatalogEntry(entry, repo, Options());
  EXPECT_NE(no_entry.status().message().find("no catalog entry"), std::string::npos)
      << no_entry.status().message();
  WriteFile(entry / "catalog.json", R"({"name": "@local/x", "task": "ocr", "models": {"det": "missing"}})");
  auto missing = PackCatalogEntry(entry, repo, Options());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("model 'missing': "), std::string::npos)
      << missing.status().message();
  WriteFile(entry / "catalog.json",
            R"({"name": "@local/x", "task": "ocr", "models": {"det": "../models/add_sub"}})");
  auto escape = PackCatalogEntry(entry, repo, Options());
  EXPECT_EQ(escape.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(escape.status().message().find("is not a repository model name"), std::string::npos);
  PackOptions small = Options();
  small.max_catalog_json_bytes = 10;
  auto large = PackCatalogEntry(entry, repo, small);
  EXPECT_NE(large.status().message().find("larger than the limit of 10 bytes"), std::string::npos);
  WriteFile(entry / "catalog.json", R"({"name": "@local/x", "task": "ocr", "bogus": 1})");
  auto bad = PackCatalogEntry(entry, repo, Options());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("catalog.json: "), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace continuum::packages
