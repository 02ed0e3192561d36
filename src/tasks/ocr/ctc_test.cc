#include "tasks/ocr/ctc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace continuum::tasks::ocr {
namespace {

// One step per entry: the class that gets probability p (the rest share 1 - p).
std::vector<float> Steps(const std::vector<std::pair<int, float>>& path, int classes) {
  std::vector<float> v;
  for (auto [c, p] : path) {
    for (int k = 0; k < classes; ++k) v.push_back(k == c ? p : (1 - p) / (classes - 1));
  }
  return v;
}

TEST(CtcTest, GreedyDecodeCollapsesRepeatsAndDropsBlanks) {
  const std::vector<std::string> keys = {"a", "b", "中"};
  auto table = ClassTable(keys, 5);  // blank + 3 keys + space
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->size(), 5u);
  EXPECT_EQ((*table)[4], " ");
  // a a blank a b space 中 中 blank
  auto probs = Steps(
      {{1, 0.9f}, {1, 0.8f}, {0, 0.99f}, {1, 0.7f}, {2, 0.6f}, {4, 0.5f}, {3, 0.9f}, {3, 0.95f}, {0, 0.9f}},
      5);
  CtcText t = CtcGreedyDecode(probs.data(), 9, 5, *table);
  EXPECT_EQ(t.text, "aab 中");
  EXPECT_NEAR(t.confidence, (0.9f + 0.7f + 0.6f + 0.5f + 0.9f) / 5, 1e-5);

  auto blanks = Steps({{0, 0.9f}, {0, 0.9f}}, 5);
  CtcText none = CtcGreedyDecode(blanks.data(), 2, 5, *table);
  EXPECT_EQ(none.text, "");
  EXPECT_EQ(none.confidence, 0.f);
}

// Steps with explicit probabilities for the blank (0) and the space (last class).
std::vector<float> Gap(int classes, float space, int steps) {
  std::vector<float> v;
  for (int t = 0; t < steps; ++t) {
    for (int k = 0; k < classes; ++k) v.push_back(k == 0 ? 1 - space : k == classes - 1 ? space : 0);
  }
  return v;
}

TEST(CtcTest, SpaceRecoveryFromBlankGaps) {
  const std::vector<std::string> keys = {"a", "b", "中"};
  auto table = *ClassTable(keys, 5);
  auto seq = [&](std::vector<std::vector<float>> parts) {
    std::vector<float> v;
    for (auto& p : parts) v.insert(v.end(), p.begin(), p.end());
    return v;
  };
  auto a = Steps({{1, 0.9f}}, 5), b = Steps({{2, 0.9f}}, 5), zh = Steps({{3, 0.9f}}, 5),
       sp = Steps({{4, 0.9f}}, 5);
  // a, a gap whose space probability sums to 0.3, b.
  auto v = seq({a, Gap(5, 0.1f, 3), b});
  EXPECT_EQ(CtcGreedyDecode(v.data(), 5, 5, table).text, "ab");  // off: PaddleOCR's decoding
  EXPECT_EQ(CtcGreedyDecode(v.data(), 5, 5, table, 0.05f).text, "a b");
  EXPECT_EQ(CtcGreedyDecode(v.data(), 5, 5, table, 0.5f).text, "ab");                 // gap below the score
  EXPECT_NEAR(CtcGreedyDecode(v.data(), 5, 5, table, 0.05f).confidence, 0.9f, 1e-6);  // not counted
  // A gap inside a word (little space probability) stays closed.
  v = seq({a, Gap(5, 0.001f, 3), b});
  EXPECT_EQ(CtcGreedyDecode(v.data(), 5, 5, table, 0.05f).text, "ab");
  // No recovered space where the model put one, nor before the first character, nor between
  // two CJK characters.
  v = seq({a, Gap(5, 0.2f, 2), sp, Gap(5, 0.2f, 2), b});
  EXPECT_EQ(CtcGreedyDecode(v.data(), 7, 5, table, 0.05f).text, "a b");
  v = seq({Gap(5, 0.3f, 3), a});
  EXPECT_EQ(CtcGreedyDecode(v.data(), 4, 5, table, 0.05f).text, "a");
  v = seq({zh, Gap(5, 0.3f, 3), zh, Gap(5, 0.3f, 3), a});
  EXPECT_EQ(CtcGreedyDecode(v.data(), 9, 5, table, 0.05f).text, "中中 a");
  // Without a space class there is nothing to recover.
  auto no_space = *ClassTable(keys, 4);
  std::vector<float> w = {0.1f, 0.9f, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0.1f, 0, 0.9f, 0};
  EXPECT_EQ(CtcGreedyDecode(w.data(), 4, 4, no_space, 0.05f).text, "ab");
}

TEST(CtcTest, FullwidthFoldsOnlyInLatinText) {
  EXPECT_EQ(FoldFullwidthInLatinText("Phone:+1（415）555，ok。"), "Phone:+1(415)555,ok.");
  EXPECT_EQ(FoldFullwidthInLatinText("ＡＢＣ　１２３"), "ABC 123");
  EXPECT_EQ(FoldFullwidthInLatinText("价格：128元（含税）"), "价格：128元（含税）");  // CJK: unchanged
  EXPECT_EQ(FoldFullwidthInLatinText("plain"), "plain");
  EXPECT_EQ(FoldFullwidthInLatinText(std::string("\xff\xfe\xef\xbc", 4)), std::string("\xff\xfe\xef\xbc", 4));
}

TEST(CtcTest, ClassTableChecksTheModelAgainstTheKeys) {
  const std::vector<std::string> keys(6623, "x");
  auto with_space = ClassTable(keys, 6625);
  ASSERT_TRUE(with_space.ok());
  EXPECT_EQ(with_space->back(), " ");
  auto without = ClassTable(keys, 6624);
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(without->back(), "x");
  auto bad = ClassTable(keys, 97);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(
      bad.status().message(),
      "the recognizer has 97 classes but the keys file has 6623 keys (expected blank + keys [+ space] = "
      "6624 or 6625)");
}

TEST(CtcTest, LoadKeys) {
  const auto path =
      std::filesystem::temp_directory_path() / ("ocr_keys_test_" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(path, std::ios::binary);
    out << "a\r\nb\n中\n";
  }
  auto keys = LoadKeys(path);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<std::string>{"a", "b", "中"}));
  {
    std::ofstream out(path, std::ios::binary);
    out << "x\ny";  // no final newline
  }
  EXPECT_EQ(LoadKeys(path)->size(), 2u);
  { std::ofstream out(path, std::ios::binary | std::ios::trunc); }
  EXPECT_EQ(LoadKeys(path).status().code(), StatusCode::kInvalidArgument);
  std::filesystem::remove(path);
  EXPECT_EQ(LoadKeys(path).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace continuum::tasks::ocr
