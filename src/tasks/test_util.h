// Helpers shared by the task tests: fresh temporary folders, a catalog entry fixture, names of
// an asset setting that reach outside the entry's folder and the check that a task refuses each.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "tasks/task.h"

namespace continuum::tasks::test_util {

// An empty folder `<temp>/continuum_<tag>_<name>_<pid>` (emptied first if it exists).
inline std::filesystem::path FreshDir(const std::string& tag, const std::string& name) {
  std::filesystem::path d = std::filesystem::temp_directory_path() /
                            ("continuum_" + tag + "_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A catalog entry's folder holding one asset file, made fresh for each test and removed after
// it; NewEntry describes an entry of the kind over it, Make creates its task.
class EntryTest : public ::testing::Test {
 protected:
  EntryTest(std::string tag, std::string asset, std::string content)
      : tag_(std::move(tag)), asset_(std::move(asset)), content_(std::move(content)) {}
  void SetUp() override {
    dir_ = FreshDir(tag_, "entry");
    std::ofstream(dir_ / asset_) << content_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CatalogEntry NewEntry(std::string task, std::map<std::string, std::string> models,
                        std::string settings) const {
    CatalogEntry e;
    e.name = "@test/" + tag_;
    e.task = std::move(task);
    e.models = std::move(models);
    e.settings_json = std::move(settings);
    e.dir = dir_;
    return e;
  }
  // T::Create over `entry`; null (and a failed expectation) when it fails.
  template <class T>
  static std::unique_ptr<T> Make(const CatalogEntry& entry) {
    auto t = T::Create(entry, TaskLimits{});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }

  std::filesystem::path dir_;

 private:
  std::string tag_, asset_, content_;
};

// Creates `<dir>/../<tag>_outside_<pid>/<file>` (removed again by the destructor), a symlink
// `<dir>/link.txt` to that file and a folder symlink `<dir>/up` to its folder.
class OutsideAsset {
 public:
  OutsideAsset(const std::filesystem::path& dir, const std::string& tag, const std::string& file)
      : outside_(dir.parent_path() / (tag + "_outside_" + std::to_string(::getpid()))), file_(file) {
    std::filesystem::create_directories(outside_);
    std::ofstream(outside_ / file) << "a\nb\nc\n";
    std::filesystem::create_symlink(outside_ / file, dir / "link.txt");
    std::filesystem::create_directory_symlink(outside_, dir / "up");
  }
  ~OutsideAsset() {
    std::error_code ec;
    std::filesystem::remove_all(outside_, ec);
  }
  OutsideAsset(const OutsideAsset&) = delete;
  OutsideAsset& operator=(const OutsideAsset&) = delete;

  // The file by absolute path, by "../", through the file symlink and through the folder symlink.
  std::vector<std::string> Names() const {
    return {(outside_ / file_).string(), "../" + outside_.filename().string() + "/" + file_, "link.txt",
            "up/" + file_};
  }

 private:
  std::filesystem::path outside_;
  std::string file_;
};

// create(settings JSON) must fail for each name given as settings.<key>, with kInvalidArgument
// "settings.<key>: must name a file inside the entry folder (...)".
template <class Create>
void ExpectAssetsRefused(const std::string& key, const std::vector<std::string>& names, Create create) {
  for (const std::string& bad : names) {
    const Status status = create(R"({")" + key + R"(":")" + bad + R"("})").status();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << bad << ": " << status.ToString();
    EXPECT_EQ(status.message().rfind("settings." + key + ": must name a file inside the entry folder", 0), 0u)
        << status.message();
  }
}

// The same for the names OutsideAsset gives for a file `file` outside `dir`, and `more`.
template <class Create>
void ExpectOutsideAssetsRefused(const std::filesystem::path& dir, const std::string& key,
                                const std::string& file, const std::vector<std::string>& more,
                                Create create) {
  const OutsideAsset outside(dir, key, file);
  std::vector<std::string> names = outside.Names();
  names.insert(names.end(), more.begin(), more.end());
  ExpectAssetsRefused(key, names, create);
}

}  // namespace continuum::tasks::test_util
