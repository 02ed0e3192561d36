#include "packages/layout.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "common/test_temp_dir.h"
#include "packages/digest.h"
#include "packages/package_internal.h"
#include "packages/test_util.h"

namespace continuum::packages {
namespace {

namespace fs = std::filesystem;
using testing::MakeModelFolder;
using testing::ReadFile;
using testing::WriteFile;

class LayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeModelFolder(model_dir());
    options_.reference = *ParseReference("localhost:5000/models/add_sub:1");
    options_.created_at = "2026-01-02T03:04:05Z";
    auto p = PackModelFolder(model_dir(), options_);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    package_ = std::move(p).value();
  }
  fs::path model_dir() const { return tmp_.path() / "add_sub"; }
  fs::path layout() const { return tmp_.path() / "layout"; }
  fs::path BlobFile(const std::string& digest) const {
    return layout() / "blobs" / "sha256" / digest.substr(7);
  }
  const Blob& Layer(const std::string& filepath) const {
    for (const Blob& b : package_.layers) {
      if (b.filepath() == filepath) return b;
    }
    throw std::runtime_error("no layer " + filepath);
  }

  continuum::testing::TempDir tmp_{"packages-layout-"};
  PackOptions options_;
  Package package_;
};

TEST_F(LayoutTest, WritesTheOciImageLayoutAndReadsItBack) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  EXPECT_EQ(ReadFile(layout() / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(ReadFile(layout() / "index.json"),
            R"({"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"1"},"digest":")" +
                package_.manifest_digest +
                R"(","mediaType":"application/vnd.oci.image.manifest.v1+json","size":)" +
                std::to_string(package_.manifest.size()) +
                R"(}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2})");
  EXPECT_EQ(ReadFile(BlobFile(package_.manifest_digest)), package_.manifest);
  EXPECT_EQ(ReadFile(BlobFile(package_.config.digest)), package_.config.data);
  EXPECT_EQ(ReadFile(BlobFile(Layer("1/model.onnx").digest)), ReadFile(model_dir() / "1" / "model.onnx"));
  for (const auto& e : fs::recursive_directory_iterator(layout())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }

  auto back = ReadLayout(layout(), "1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->manifest_digest, package_.manifest_digest);
  EXPECT_EQ(back->manifest, package_.manifest);
  ASSERT_EQ(back->layers.size(), package_.layers.size());
  for (size_t i = 0; i < back->layers.size(); ++i) {
    EXPECT_EQ(back->layers[i].digest, package_.layers[i].digest);
    EXPECT_EQ(back->layers[i].filepath(), package_.layers[i].filepath());
    EXPECT_EQ(back->layers[i].source, BlobFile(package_.layers[i].digest));
  }
}

TEST_F(LayoutTest, OneManifestPerTag) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  WriteFile(model_dir() / "README.md", "version two\n");
  auto second = PackModelFolder(model_dir(), options_);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(WriteLayout(layout(), *second, "2").ok());
  auto list = ListLayout(layout());
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].tag, "1");
  EXPECT_EQ((*list)[0].digest, package_.manifest_digest);
  EXPECT_EQ((*list)[1].tag, "2");
  EXPECT_EQ((*list)[1].digest, second->manifest_digest);
  // Retagging replaces the entry.
  ASSERT_TRUE(WriteLayout(layout(), *second, "1").ok());
  list = ListLayout(layout());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].tag, "1");
  EXPECT_EQ((*list)[1].digest, second->manifest_digest);
  EXPECT_TRUE(ReadLayout(layout(), "1").ok());
  EXPECT_TRUE(ReadLayout(layout(), "2").ok());
}

TEST_F(LayoutTest, RefusesACorruptedBlob) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  fs::path blob = BlobFile(Layer("1/model.onnx").digest);
  std::string bytes = ReadFile(blob);
  bytes[bytes.size() / 2] ^= 0x01;
  WriteFile(blob, bytes);
  auto r = ReadLayout(layout(), "1");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("file '1/model.onnx': blob sha256:"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("is corrupt"), std::string::npos);
  // Writing the package again repairs the blob rather than trusting it.
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  EXPECT_TRUE(ReadLayout(layout(), "1").ok());
}

TEST_F(LayoutTest, RefusesATruncatedBlob) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  fs::path blob = BlobFile(Layer("README.md").digest);
  fs::resize_file(blob, 3);
  auto r = ReadLayout(layout(), "1");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("holds 3 bytes"), std::string::npos) << r.status().message();
}

TEST_F(LayoutTest, RefusesAMissingFile) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  fs::remove(BlobFile(Layer("config.json").digest));
  auto r = ReadLayout(layout(), "1");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("file 'config.json' is missing"), std::string::npos)
      << r.status().message();
}

TEST_F(LayoutTest, RefusesACorruptedManifestOrConfig) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  std::string config = package_.config.data;
  config[config.size() - 2] = ' ';
  WriteFile(BlobFile(package_.config.digest), config);
  auto r = ReadLayout(layout(), "1");
  EXPECT_NE(r.status().message().find("the config: blob"), std::string::npos) << r.status().message();
  WriteFile(BlobFile(package_.manifest_digest), package_.manifest + " ");
  r = ReadLayout(layout(), "1");
  EXPECT_NE(r.status().message().find("the manifest: blob"), std::string::npos) << r.status().message();
}

TEST_F(LayoutTest, RefusesAPathLeavingThePackage) {
  for (const char* bad : {"../escape.onnx", "/etc/passwd", "1/../../x"}) {
    Package p = package_;
    p.layers[0].annotations[std::string(kFilepathAnnotation)] = bad;
    FinishPackage(options_, &p);
    ASSERT_TRUE(WriteLayout(layout(), p, "evil").ok());
    auto r = ReadLayout(layout(), "evil");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("leaves the package"), std::string::npos) << r.status().message();
  }
}

TEST_F(LayoutTest, SaysWhatIsMissing) {
  auto none = ReadLayout(layout(), "1");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("oci-layout"), std::string::npos) << none.status().message();
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  auto tag = ReadLayout(layout(), "2");
  EXPECT_EQ(tag.status().code(), StatusCode::kNotFound);
  EXPECT_NE(tag.status().message().find("no package tagged '2'"), std::string::npos)
      << tag.status().message();
  EXPECT_NE(tag.status().message().find("(tags: '1')"), std::string::npos) << tag.status().message();
  WriteFile(layout() / "index.json", "{\"manifests\": 3}");
  EXPECT_EQ(ReadLayout(layout(), "1").status().code(), StatusCode::kInvalidArgument);
  WriteFile(layout() / "oci-layout", R"({"imageLayoutVersion":"2.0.0"})");
  EXPECT_EQ(ReadLayout(layout(), "1").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LayoutTest, RefusesAConfigThatDoesNotFollowTheSchema) {
  struct Case {
    std::string config;
    std::string error;
  };
  std::vector<Case> cases = {
      {R"({"descriptor":{},"config":{}})", "does not follow the ModelPack config schema"},
      {R"({"descriptor":{},"config":{},"modelfs":{"type":"tar","diffIds":[]}})", "does not follow"},
      {R"({"descriptor":{},"config":{},"modelfs":{"type":"layers","diffIds":["sha256:00"]}})",
       "modelfs.diffIds[0] is not the digest of layer 0"},
      {R"({"descriptor":{},"config":{},"modelfs":{"type":"layers","diffIds":[]}})", "0 diffIds for 5 layers"},
  };
  for (const Case& c : cases) {
    // The package's manifest with its config descriptor pointing at the replaced config.
    Package rebuilt = package_;
    rebuilt.config = MemoryBlob(std::string(kConfigMediaType), c.config);
    std::string old_descriptor = "\"digest\":\"" + package_.config.digest + "\",\"mediaType\":\"" +
                                 std::string(kConfigMediaType) +
                                 "\",\"size\":" + std::to_string(package_.config.size);
    std::string new_descriptor = "\"digest\":\"" + rebuilt.config.digest + "\",\"mediaType\":\"" +
                                 std::string(kConfigMediaType) +
                                 "\",\"size\":" + std::to_string(rebuilt.config.size);
    size_t at = rebuilt.manifest.find(old_descriptor);
    ASSERT_NE(at, std::string::npos);
    rebuilt.manifest.replace(at, old_descriptor.size(), new_descriptor);
    rebuilt.manifest_digest = MemoryBlob("", rebuilt.manifest).digest;
    ASSERT_TRUE(WriteLayout(layout(), rebuilt, "bad").ok());
    auto r = ReadLayout(layout(), "bad");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.config;
    EXPECT_NE(r.status().message().find(c.error), std::string::npos) << r.status().message();
  }
}

TEST_F(LayoutTest, WritersOfOneLayoutKeepEachOthersTags) {
  constexpr int kWriters = 4;
  constexpr int kRounds = 25;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int round = 0; round < kRounds; ++round) {
        if (!WriteLayout(layout(), package_, "t" + std::to_string(w) + "-" + std::to_string(round)).ok())
          ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = ListLayout(layout());
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->size(), static_cast<size_t>(kWriters) * kRounds);
}

// The reader takes a layout another implementation wrote: skopeo's index.json has its own key
// order and no trailing conventions of ours.
TEST_F(LayoutTest, ReadsALayoutSkopeoWrote) {
  if (std::system("command -v skopeo >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "skopeo not installed (tools/setup.sh)";
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  fs::path policy = tmp_.path() / "policy.json";
  WriteFile(policy, R"({"default":[{"type":"insecureAcceptAnything"}]})");
  fs::path copy = tmp_.path() / "copy";
  std::string cmd = "skopeo --policy '" + policy.string() + "' copy -q 'oci:" + layout().string() +
                    ":1' 'oci:" + copy.string() + ":2' >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_NE(ReadFile(copy / "index.json"), ReadFile(layout() / "index.json"));  // skopeo's own writing
  auto back = ReadLayout(copy, "2");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->manifest_digest, package_.manifest_digest);
  EXPECT_EQ(back->layers.size(), package_.layers.size());
}

TEST(LayoutWriterTest, AdoptsAFileOnlyWhenItsBytesAreTheDigestsAndRemovesItOtherwise) {
  continuum::testing::TempDir tmp("packages-writer-");
  auto w = LayoutWriter::Open(tmp.path() / "layout");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string bytes = "tokenizer bytes";
  const std::string digest = DigestOf(bytes);
  fs::path partial = (*w)->IngestDir() / "a.partial";
  WriteFile(partial, "tokenizer bytez");
  Status st = (*w)->Adopt(partial, digest, static_cast<int64_t>(bytes.size()));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_FALSE((*w)->Has(digest, static_cast<int64_t>(bytes.size())));
  WriteFile(partial, bytes + "!");  // right prefix, wrong size
  EXPECT_EQ((*w)->Adopt(partial, digest, static_cast<int64_t>(bytes.size())).code(),
            StatusCode::kInvalidArgument);
  WriteFile(partial, bytes);
  ASSERT_TRUE((*w)->Adopt(partial, digest, static_cast<int64_t>(bytes.size())).ok());
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_TRUE((*w)->Has(digest, static_cast<int64_t>(bytes.size())));
  EXPECT_EQ(ReadFile(*(*w)->PathOf(digest)), bytes);
  EXPECT_EQ((*w)->PathOf("sha256:ABC").status().code(), StatusCode::kInvalidArgument);
}

// kCallerHashed takes the caller's word for the hash (the file is not read again: bytes that
// differ from what the caller hashed go in as they are) but still checks the size.
TEST(LayoutWriterTest, AdoptsACallerHashedFileWithoutRehashingButChecksItsSize) {
  continuum::testing::TempDir tmp("packages-writer-");
  auto w = LayoutWriter::Open(tmp.path() / "layout");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string bytes = "tokenizer bytes";
  const std::string digest = DigestOf(bytes);
  const int64_t size = static_cast<int64_t>(bytes.size());
  fs::path partial = (*w)->IngestDir() / "a.partial";
  WriteFile(partial, bytes + "!");
  Status st = (*w)->Adopt(partial, digest, size, LayoutWriter::AdoptCheck::kCallerHashed);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("holds 16 bytes"), std::string::npos) << st.ToString();
  EXPECT_FALSE(fs::exists(partial));
  WriteFile(partial, "tokenizer bytez");  // the size the caller hashed, other bytes: not re-read
  ASSERT_TRUE((*w)->Adopt(partial, digest, size, LayoutWriter::AdoptCheck::kCallerHashed).ok());
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_EQ(ReadFile(*(*w)->PathOf(digest)), "tokenizer bytez");
  EXPECT_EQ((*w)->Adopt(partial, digest, size, LayoutWriter::AdoptCheck::kCallerHashed).code(),
            StatusCode::kFailedPrecondition);  // no such file
}

// Prune drops the tags it is told to and every blob only they reached; what the kept tags reach
// stays, shared layers included; a kept manifest it cannot read stops it before anything goes.
TEST_F(LayoutTest, PruneRemovesWhatOnlyTheDroppedTagsReach) {
  ASSERT_TRUE(WriteLayout(layout(), package_, "1").ok());
  WriteFile(model_dir() / "README.md", "version two\n");
  auto second = PackModelFolder(model_dir(), options_);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(WriteLayout(layout(), *second, "2").ok());
  WriteFile(BlobFile(DigestOf("stray")), "stray");  // a blob nothing names
  WriteFile(layout() / "blobs" / "sha256" / "notes.txt", "not a blob");
  std::vector<std::string> only_first, shared;
  for (const Blob& b : package_.layers) {
    bool in_second = false;
    for (const Blob& c : second->layers) in_second = in_second || c.digest == b.digest;
    (in_second ? shared : only_first).push_back(b.digest);
  }
  ASSERT_FALSE(only_first.empty());
  ASSERT_FALSE(shared.empty());
  auto w = LayoutWriter::Open(layout());
  ASSERT_TRUE(w.ok());
  auto pruned = (*w)->Prune([](const std::string& tag) { return tag == "1"; });
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->untagged, 1);
  EXPECT_GE(pruned->blobs_removed, static_cast<int64_t>(only_first.size()) + 2);  // + manifest, stray
  EXPECT_GT(pruned->bytes_freed, 0);
  for (const std::string& d : only_first) EXPECT_FALSE(fs::exists(BlobFile(d))) << d;
  for (const std::string& d : shared) EXPECT_TRUE(fs::exists(BlobFile(d))) << d;
  EXPECT_FALSE(fs::exists(BlobFile(package_.manifest_digest)));
  EXPECT_FALSE(fs::exists(BlobFile(DigestOf("stray"))));
  EXPECT_TRUE(fs::exists(layout() / "blobs" / "sha256" / "notes.txt"));
  EXPECT_TRUE(ReadLayout(layout(), "2").ok());
  EXPECT_EQ(ReadLayout(layout(), "1").status().code(), StatusCode::kNotFound);
  // Nothing left to drop: nothing removed.
  pruned = (*w)->Prune([](const std::string&) { return false; });
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(pruned->blobs_removed, 0);
  // A kept manifest that cannot be read: an error, and every blob stays.
  fs::remove(BlobFile(second->manifest_digest));
  pruned = (*w)->Prune([](const std::string&) { return false; });
  EXPECT_FALSE(pruned.ok());
  for (const std::string& d : shared) EXPECT_TRUE(fs::exists(BlobFile(d))) << d;
}

TEST(LayoutWriterTest, TagsAnyManifestAndReadsItBackVerified) {
  continuum::testing::TempDir tmp("packages-writer-");
  fs::path layout = tmp.path() / "layout";
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";
  const std::string other = R"({"schemaVersion":2})";
  {
    auto w = LayoutWriter::Open(layout);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Tag(manifest, kManifestMediaType, "sha256-ab.sig").ok());
    ASSERT_TRUE((*w)->Tag(other, kManifestMediaType, "2").ok());
    ASSERT_TRUE((*w)->Tag(other, kManifestMediaType, "sha256-ab.sig").ok());  // replaces, keeps "2"
    ASSERT_TRUE((*w)->Tag(manifest, kManifestMediaType, "sha256-ab.sig").ok());
  }
  auto tags = ListLayout(layout);
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 2u);
  auto m = ReadTaggedManifest(layout, "sha256-ab.sig");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->bytes, manifest);
  EXPECT_EQ(m->digest, DigestOf(manifest));
  EXPECT_EQ(m->media_type, kManifestMediaType);
  EXPECT_EQ(ReadTaggedManifest(layout, "3").status().code(), StatusCode::kNotFound);
  auto bytes = ReadBlobBytes(layout, DigestOf(other), 1024);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, other);
  WriteFile(layout / "blobs" / "sha256" / DigestOf(manifest).substr(7), manifest + " ");
  EXPECT_EQ(ReadTaggedManifest(layout, "sha256-ab.sig").status().code(), StatusCode::kInvalidArgument);
  WriteFile(layout / "blobs" / "sha256" / DigestOf(other).substr(7), "{}");
  EXPECT_EQ(ReadBlobBytes(layout, DigestOf(other), 1024).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadBlobBytes(layout, DigestOf("missing"), 1024).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadBlobBytes(layout, DigestOf(manifest), 4).status().code(), StatusCode::kPayloadTooLarge);
}

TEST(LayoutWriterTest, OpeningRemovesWhatAWriterThatDiedLeftHalfWritten) {
  continuum::testing::TempDir tmp("packages-writer-");
  fs::path layout = tmp.path() / "layout";
  { ASSERT_TRUE(LayoutWriter::Open(layout).ok()); }
  fs::path half_blob = layout / "blobs" / "sha256" / (std::string(64, 'a') + ".tmp-4242");
  fs::path half_index = layout / "index.json.tmp-4242";
  WriteFile(half_blob, "half");
  WriteFile(half_index, "{");
  fs::path partial = layout / ".continuum-ingest" / "b.partial";  // a download to resume: kept
  WriteFile(partial, "part");
  { ASSERT_TRUE(LayoutWriter::Open(layout).ok()); }
  EXPECT_FALSE(fs::exists(half_blob));
  EXPECT_FALSE(fs::exists(half_index));
  EXPECT_TRUE(fs::exists(partial));
}

TEST(LayoutWriterTest, SignatureTagIsCosigns) {
  EXPECT_EQ(SignatureTag("sha256:0123abcd"), "sha256-0123abcd.sig");
}

}  // namespace
}  // namespace continuum::packages
