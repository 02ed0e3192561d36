#include "common/paths.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace continuum {
namespace {

namespace fs = std::filesystem;

class PathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("continuum_paths_test_" + std::to_string(::getpid()));
    fs::remove_all(base_);
    root_ = base_ / "root";
    fs::create_directories(root_ / "sub");
    fs::create_directories(base_ / "outside");
    std::ofstream(root_ / "a.txt") << "a";
    std::ofstream(root_ / "sub" / "b.txt") << "b";
    std::ofstream(base_ / "outside" / "secret") << "s";
  }
  void TearDown() override { fs::remove_all(base_); }

  StatusCode Code(std::string_view rel, InsideOptions o = {}) {
    return ResolveInside(root_, rel, o).status().code();
  }

  fs::path base_, root_;
};

TEST_F(PathsTest, FilesInsideResolveToTheirRealPath) {
  auto a = ResolveInside(root_, "a.txt");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, fs::canonical(root_ / "a.txt"));
  EXPECT_TRUE(ResolveInside(root_, "sub/b.txt").ok());
  EXPECT_TRUE(ResolveInside(root_, "./sub/./b.txt").ok());
  // A symlink that stays inside is fine; the real file is returned.
  fs::create_symlink("sub/b.txt", root_ / "link_in");
  auto in = ResolveInside(root_, "link_in");
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_EQ(*in, fs::canonical(root_ / "sub" / "b.txt"));
  // The root itself may be reached through a symlink.
  fs::create_directory_symlink(root_, base_ / "root_link");
  EXPECT_TRUE(ResolveInside(base_ / "root_link", "a.txt").ok());
}

TEST_F(PathsTest, EscapesAreRefusedWithTheReason) {
  for (const char* bad :
       {"", "/etc/passwd", "../outside/secret", "sub/../../outside/secret", "sub/../a.txt"}) {
    auto r = ResolveInside(root_, bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_NE(ResolveInside(root_, "/etc/passwd").status().message().find("absolute"), std::string::npos);
  EXPECT_NE(ResolveInside(root_, "../x").status().message().find("'..'"), std::string::npos);
  EXPECT_EQ(Code(std::string_view("a.txt\0../../x", 13)), StatusCode::kInvalidArgument);

  // A symlinked folder or file that leaves the root, at any level.
  fs::create_directory_symlink(base_ / "outside", root_ / "w");
  fs::create_symlink(base_ / "outside" / "secret", root_ / "sub" / "s");
  fs::create_symlink("/etc/passwd", root_ / "passwd");
  for (const char* bad : {"w/secret", "sub/s", "passwd", "w"}) {
    auto r = ResolveInside(root_, bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("outside"), std::string::npos) << r.status().message();
  }
  // Even when the file is allowed to be missing.
  EXPECT_EQ(Code("w/not-there", {.must_exist = false}), StatusCode::kInvalidArgument);
  // A dangling symlink: whatever it points to may appear later.
  fs::create_symlink(base_ / "outside" / "later", root_ / "dangling");
  EXPECT_EQ(Code("dangling", {.must_exist = false}), StatusCode::kInvalidArgument);
  EXPECT_EQ(Code("dangling"), StatusCode::kInvalidArgument);
  // A symlink loop.
  fs::create_symlink("loop", root_ / "loop");
  EXPECT_EQ(Code("loop"), StatusCode::kInvalidArgument);
}

TEST_F(PathsTest, OnlyRegularFiles) {
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
  auto r = ResolveInside(root_, "fifo");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos) << r.status().message();
  EXPECT_EQ(Code("sub"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Code("."), StatusCode::kFailedPrecondition);
  if (fs::exists("/dev/null")) {
    fs::create_symlink("/dev/null", root_ / "null");
    EXPECT_EQ(Code("null"), StatusCode::kInvalidArgument);
  }
}

TEST_F(PathsTest, MissingFiles) {
  EXPECT_EQ(Code("nope.txt"), StatusCode::kNotFound);
  EXPECT_NE(ResolveInside(root_, "nope.txt").status().message().find("nope.txt"), std::string::npos);
  auto r = ResolveInside(root_, "sub/nope.txt", {.must_exist = false});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, fs::canonical(root_ / "sub") / "nope.txt");
  EXPECT_EQ(ResolveInside(base_ / "no-root", "a.txt").status().code(), StatusCode::kNotFound);
}

TEST_F(PathsTest, PathInside) {
  EXPECT_TRUE(PathInside(root_, root_ / "a.txt"));
  EXPECT_TRUE(PathInside(root_, root_ / "missing" / "x"));
  EXPECT_TRUE(PathInside(root_, root_));
  EXPECT_FALSE(PathInside(root_, base_ / "outside" / "secret"));
  EXPECT_FALSE(PathInside(root_, root_ / ".." / "outside"));
  fs::create_directory_symlink(base_ / "outside", root_ / "w");
  EXPECT_FALSE(PathInside(root_, root_ / "w" / "secret"));
  EXPECT_FALSE(PathInside(base_ / "no-root", base_ / "no-root" / "x"));
}

}  // namespace
}  // namespace continuum
