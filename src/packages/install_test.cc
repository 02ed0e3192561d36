#include "packages/install.h"

#include <gtest/gtest.h>

#include <set>

#include "common/test_temp_dir.h"
#include "packages/test_util.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;
using testing::MakeModelFolder;
using testing::ReadFile;
using testing::WriteFile;

// The signature check is continuum_signing's (tested there, and through `continuum install` in
// tests/e2e/test_install.py); here it is a verifier that accepts one digest.
VerifyFn AcceptOnly(const std::string& digest) {
  return [digest](const fs::path&, std::string_view d) {
    return d == digest ? Status::Ok() : InvalidArgument("unsigned: no signature for " + std::string(d));
  };
}

std::set<std::string> Entries(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    out.insert(it->path().filename().string());
  return out;
}

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeModelFolder(model_dir());
    fs::create_directories(repo());
    options_.layout = tmp_.path() / "layout";
    options_.repository = repo();
  }
  fs::path model_dir() const { return tmp_.path() / "add_sub"; }
  fs::path repo() const { return tmp_.path() / "repo"; }

  // Packs the model folder as tag `tag`, created at `created_at`; the verifier accepts it.
  std::string Pack(const std::string& tag, const std::string& created_at = "2026-01-02T03:04:05Z") {
    PackOptions o;
    o.reference = *ParseReference("localhost:5000/models/add_sub:" + tag);
    o.created_at = created_at;
    auto p = PackModelFolder(model_dir(), o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_TRUE(WriteLayout(options_.layout, *p, tag).ok());
    options_.verify = AcceptOnly(p->manifest_digest);
    return p->manifest_digest;
  }
  StatusOr<InstallResult> Install(const std::string& tag) {
    return InstallPackage(*ParseReference("localhost:5000/models/add_sub:" + tag), options_);
  }

  continuum::testing::TempDir tmp_{"packages-install-"};
  InstallOptions options_;
};

TEST_F(InstallTest, UnpacksIntoAPackageFolderThatTheModelLinksTo) {
  std::string digest = Pack("1");
  auto r = Install("1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string folder = "add_sub@sha256-" + digest.substr(7) + "-default";
  EXPECT_EQ(r->model, "add_sub");
  EXPECT_EQ(fs::read_symlink(repo() / "add_sub"), fs::path(".packages") / folder);
  EXPECT_EQ(ReadFile(repo() / "add_sub" / "2" / "model.onnx"), ReadFile(model_dir() / "2" / "model.onnx"));
  EXPECT_EQ(ReadFile(repo() / "add_sub" / "config.json"), ReadFile(model_dir() / "config.json"));
  EXPECT_TRUE(fs::exists(repo() / "add_sub" / "continuum-package.json"));
  auto record = ReadInstallRecord(repo(), "add_sub");
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->reference, "localhost:5000/models/add_sub:1");
  EXPECT_EQ(record->digest, digest);
  EXPECT_EQ(record->variant, "default");
  EXPECT_EQ(record->max_version, 2);
  EXPECT_EQ(record->created_at, "2026-01-02T03:04:05Z");
  EXPECT_FALSE(record->installed_at.empty());
  EXPECT_EQ(Entries(repo()), (std::set<std::string>{".packages", "add_sub"}));
  EXPECT_EQ(Entries(repo() / ".packages"), (std::set<std::string>{folder}));
  auto again = Install("1");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->unchanged);
}

TEST_F(InstallTest, WithoutAVerifierNothingIsInstalled) {
  Pack("1");
  options_.verify = nullptr;
  auto r = Install("1");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("no signature verifier"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(Entries(repo()).empty());
}

TEST_F(InstallTest, AFailedSignatureCheckInstallsNothing) {
  Pack("1");
  options_.verify = AcceptOnly("sha256:" + std::string(64, '0'));
  auto r = Install("1");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("unsigned"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(Entries(repo()).empty());
}

TEST_F(InstallTest, AnOlderPackageIsRefusedUnlessDowngradesAreAllowed) {
  std::string newer = Pack("2");
  ASSERT_TRUE(Install("2").ok());
  fs::remove_all(model_dir() / "2");  // highest version 1 now
  Pack("1");
  auto r = Install("1");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("is older than localhost:5000/models/add_sub:2"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ReadInstallRecord(repo(), "add_sub")->digest, newer);
  options_.allow_downgrade = true;
  auto forced = Install("1");
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_EQ(forced->record.previous, "add_sub@sha256-" + newer.substr(7) + "-default");
}

TEST_F(InstallTest, TheSameVersionsCreatedEarlierAreOlder) {
  Pack("b", "2026-02-01T00:00:00Z");
  ASSERT_TRUE(Install("b").ok());
  WriteFile(model_dir() / "README.md", "an earlier build\n");
  Pack("a", "2026-01-01T00:00:00Z");
  EXPECT_EQ(Install("a").status().code(), StatusCode::kFailedPrecondition);
  auto record = [](int64_t max_version, std::string created_at) {
    InstallRecord r;
    r.max_version = max_version;
    r.created_at = std::move(created_at);
    return r;
  };
  EXPECT_TRUE(IsOlder(record(2, "2026-01-01T00:00:00Z"), record(2, "2026-02-01T00:00:00Z")));
  EXPECT_FALSE(IsOlder(record(2, "2026-02-01T00:00:00Z"), record(2, "2026-01-01T00:00:00Z")));
  EXPECT_FALSE(IsOlder(record(2, ""), record(2, "2026-02-01T00:00:00Z")));
  EXPECT_TRUE(IsOlder(record(1, "2026-03-01T00:00:00Z"), record(2, "")));
}

TEST_F(InstallTest, StaleFilesAreRemovedAndOnlyTheCurrentAndPreviousPackagesKept) {
  std::string first = Pack("1");
  ASSERT_TRUE(Install("1").ok());
  // What a killed install leaves: a staging folder and a temporary symlink.
  WriteFile(repo() / ".packages" / ".staging-add_sub@sha256-x" / "1" / "model.onnx", "half");
  fs::create_symlink(".packages/nothing", repo() / ".continuum-link-add_sub-1");
  std::vector<std::string> digests = {first};
  for (const std::string text : {"two\n", "three\n"}) {
    WriteFile(model_dir() / "README.md", text);
    digests.push_back(Pack("1", "2026-03-0" + std::to_string(digests.size()) + "T00:00:00Z"));
    ASSERT_TRUE(Install("1").ok());
  }
  EXPECT_EQ(Entries(repo()), (std::set<std::string>{".packages", "add_sub"}));
  EXPECT_EQ(Entries(repo() / ".packages"),
            (std::set<std::string>{"add_sub@sha256-" + digests[1].substr(7) + "-default",
                                   "add_sub@sha256-" + digests[2].substr(7) + "-default"}));
  EXPECT_EQ(ReadFile(repo() / "add_sub" / "README.md"), "three\n");
}

TEST_F(InstallTest, AModelFolderNotInstalledFromAPackageIsLeftAlone) {
  Pack("1");
  WriteFile(repo() / "add_sub" / "1" / "model.onnx", "mine");
  auto r = Install("1");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("was not installed from a package"), std::string::npos);
  EXPECT_EQ(ReadFile(repo() / "add_sub" / "1" / "model.onnx"), "mine");
}

// Uninstall removes the model's link and every package folder of it, and nothing else.
TEST_F(InstallTest, UninstallRemovesTheLinkAndEveryPackageFolderOfTheModel) {
  Pack("1");
  ASSERT_TRUE(Install("1").ok());
  WriteFile(model_dir() / "README.md", "two\n");
  Pack("1", "2026-03-01T00:00:00Z");
  ASSERT_TRUE(Install("1").ok());
  ASSERT_EQ(Entries(repo() / ".packages").size(), 2u);
  WriteFile(repo() / "other" / "1" / "model.onnx", "mine");
  WriteFile(repo() / ".packages" / "add_subway@sha256-x-default" / "keep", "another model's");
  auto r = UninstallModel(repo(), "add_sub");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r);
  EXPECT_EQ(Entries(repo()), (std::set<std::string>{".packages", "other"}));
  EXPECT_EQ(Entries(repo() / ".packages"), (std::set<std::string>{"add_subway@sha256-x-default"}));
  r = UninstallModel(repo(), "add_sub");  // nothing left: still fine
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  r = UninstallModel(repo(), "other");  // not a package's: left alone
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(ReadFile(repo() / "other" / "1" / "model.onnx"), "mine");
  // A repository where no package was ever installed: nothing to do for an absent model, and a
  // folder someone put there is still not a package's.
  const fs::path bare = tmp_.path() / "bare";
  WriteFile(bare / "mine" / "1" / "model.onnx", "mine");
  r = UninstallModel(bare, "absent");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  r = UninstallModel(bare, "mine");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(ReadFile(bare / "mine" / "1" / "model.onnx"), "mine");
}

TEST_F(InstallTest, ASymlinkInTheLayoutIsRefused) {
  std::string digest = Pack("1");
  auto p = ReadLayout(options_.layout, "1");
  ASSERT_TRUE(p.ok());
  fs::path blob = p->layers.front().source;
  fs::rename(blob, tmp_.path() / "elsewhere");
  fs::create_symlink(tmp_.path() / "elsewhere", blob);
  auto r = Install("1");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("symlink"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(Entries(repo()).empty());
}

TEST_F(InstallTest, InstallsTheVariantTheHardwareMeets) {
  fs::remove_all(model_dir());
  WriteFile(model_dir() / "config.json", R"({"schema_version": 1, "max_batch_size": 0})");
  WriteFile(model_dir() / "variants.json", R"({"variants": [
    {"name": "fp16", "precision": "fp16", "requires": {"execution_providers": ["cuda"]}},
    {"name": "fp32", "precision": "fp32"}]})");
  for (const char* v : {"fp16", "fp32"}) {
    fs::create_directories(model_dir() / "variants" / v / "1");
    fs::copy_file(fs::path(CONTINUUM_TEST_MODELS) / "add_sub" / "1" / "model.onnx",
                  model_dir() / "variants" / v / "1" / "model.onnx");
    WriteFile(model_dir() / "variants" / v / "1" / "NOTES.txt", std::string("variant ") + v + "\n");
  }
  std::string digest = Pack("1");
  options_.hardware = *ParseHardware("execution_providers=cpu");
  auto r = Install("1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->record.variant, "fp32");
  EXPECT_NE(r->record.reason.find("fp16"), std::string::npos) << r->record.reason;
  EXPECT_EQ(fs::read_symlink(repo() / "add_sub"),
            fs::path(".packages") / ("add_sub@sha256-" + digest.substr(7) + "-fp32"));
  EXPECT_EQ(ReadFile(repo() / "add_sub" / "1" / "NOTES.txt"), "variant fp32\n");
  EXPECT_FALSE(fs::exists(repo() / "add_sub" / "variants"));
  // The same package on a node with CUDA: the other variant, a new folder.
  options_.hardware = *ParseHardware("execution_providers=cpu,cuda");
  auto gpu = Install("1");
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  EXPECT_FALSE(gpu->unchanged);
  EXPECT_EQ(gpu->record.variant, "fp16");
  EXPECT_EQ(ReadFile(repo() / "add_sub" / "1" / "NOTES.txt"), "variant fp16\n");
}

}  // namespace
}  // namespace continuum::packages
