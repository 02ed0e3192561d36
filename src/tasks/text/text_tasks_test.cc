// The text tasks: pooling and scores with a fake runner, limits, sub-batch planning, and the
// real tiny models through a ModelRepository (batched results equal one-by-one).
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "common/log.h"
#include "repository/repository.h"
#include "tasks/builtin.h"
#include "tasks/catalog.h"
#include "tasks/runner.h"
#include "tasks/test_util.h"
#include "tasks/text/encoder.h"
#include "tasks/text/import.h"

namespace continuum::tasks::text {
namespace {

namespace fs = std::filesystem;
const fs::path kTiny = CONTINUUM_TINY_BERT;

fs::path TempDir(const std::string& name) { return test_util::FreshDir("text", name); }

const char* kVocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\nthe\ncat\nsat\n";

// Answers like an encoder: last_hidden_state [B, L, 2] with (id, position) at real tokens and
// 1000 at padding; or logits [B, 3] = (id of the first word, 0, 1).
class FakeRunner final : public ModelRunner {
 public:
  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor> inputs,
                                                      std::vector<std::string> outputs) override {
    std::promise<StatusOr<std::vector<Tensor>>> p;
    {
      std::lock_guard lock(mu);
      calls.push_back(inputs);
    }
    const Tensor *ids = nullptr, *mask = nullptr;
    for (const auto& t : inputs) {
      if (t.name == "input_ids") ids = &t;
      if (t.name == "attention_mask") mask = &t;
    }
    const int64_t b = ids->shape[0], l = ids->shape[1];
    auto at = [](const Tensor* t, int64_t i) {
      int64_t v;
      std::memcpy(&v, t->data.data() + 8 * i, 8);
      return v;
    };
    std::vector<float> out;
    Tensor t;
    if (logits) {
      for (int64_t r = 0; r < b; ++r) {
        out.insert(out.end(), {static_cast<float>(at(ids, r * l + 1)), 0.0f, 1.0f});
      }
      t = {"logits", DataType::kFp32, {b, 3}, {}};
    } else {
      for (int64_t i = 0; i < b * l; ++i) {
        bool real = at(mask, i) == 1;
        out.push_back(real ? static_cast<float>(at(ids, i)) : 1000.0f);
        out.push_back(real ? static_cast<float>(i % l) : 1000.0f);
      }
      t = {"last_hidden_state", DataType::kFp32, {b, l, 2}, {}};
    }
    t.data.resize(out.size() * 4);
    std::memcpy(t.data.data(), out.data(), t.data.size());
    p.set_value(std::vector<Tensor>{std::move(t)});
    return p.get_future();
  }
  bool logits = false;
  std::mutex mu;
  std::vector<std::vector<Tensor>> calls;
};

CatalogEntry Entry(const fs::path& dir, std::string task, std::string settings) {
  std::ofstream(dir / "vocab.txt") << kVocab;
  CatalogEntry e;
  e.name = "@test/" + task;
  e.task = std::move(task);
  e.models = {{"encoder", "enc"}};
  e.settings_json = std::move(settings);
  e.dir = dir;
  return e;
}

std::unique_ptr<Task> Make(const CatalogEntry& e, TaskLimits limits = {}) {
  TaskRegistry r;
  RegisterTextTasks(r);
  auto t = r.Create(e, limits);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

TaskRequest Texts(std::vector<std::string> texts, bool array = true) {
  TaskRequest r;
  r.texts = std::move(texts);
  r.texts_is_array = array;
  return r;
}

TEST(TextEmbeddings, MeanPoolingIgnoresPaddingAndNormalizes) {
  auto dir = TempDir("pool");
  auto task =
      Make(Entry(dir, "text-embeddings", R"({"inputs":["input_ids","attention_mask"],"max_batch_size":8})"));
  ASSERT_TRUE(task);
  FakeRunner runner;
  // "hello" -> [CLS]=2 hello=4 [SEP]=3 (positions 0..2); "the cat sat" -> 2 6 7 8 3 (0..4);
  // "hello world" -> 2 4 5 3 (0..3).
  auto r = task->Run(Texts({"hello", "the cat sat", "hello world"}), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->embeddings.size(), 3u);
  EXPECT_EQ(r->tokens, 12);
  auto expect_unit = [](std::vector<float> v, float x, float y) {
    float n = std::sqrt(x * x + y * y);
    EXPECT_NEAR(v[0], x / n, 1e-6);
    EXPECT_NEAR(v[1], y / n, 1e-6);
  };
  expect_unit(r->embeddings[0], 3.0f, 1.0f);  // mean ids (2+4+3)/3, mean positions 1
  expect_unit(r->embeddings[1], 26.0f / 5, 2.0f);
  expect_unit(r->embeddings[2], 3.5f, 1.5f);
  // Lengths 3 and 4 share the bucket 4 (one request of 2 rows); 5 pads to 8.
  ASSERT_EQ(runner.calls.size(), 2u);
  EXPECT_EQ(runner.calls[0][0].shape, (Shape{2, 4}));
  EXPECT_EQ(runner.calls[1][0].shape, (Shape{1, 8}));
  EXPECT_EQ(runner.calls[0].size(), 2u);  // only the inputs the settings name

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(r->result_json).get(doc));
  EXPECT_EQ(int64_t(doc["shape"].at(0)), 3);
  EXPECT_EQ(int64_t(doc["shape"].at(1)), 2);
  EXPECT_EQ(std::string_view(doc["pooling"]), "mean");
  EXPECT_NEAR(double(doc["data"].at(1).at(1)), r->embeddings[1][1], 1e-6);
}

TEST(TextEmbeddings, ClsPoolingAndNoNormalization) {
  auto dir = TempDir("cls");
  auto task = Make(Entry(dir, "text-embeddings", R"({"pooling":"cls","normalize":false})"));
  ASSERT_TRUE(task);
  FakeRunner runner;
  auto r = task->Run(Texts({"the cat sat"}, false), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->embeddings[0], (std::vector<float>{2.0f, 0.0f}));  // [CLS] at position 0
  EXPECT_EQ(runner.calls[0].size(), 3u);                          // default inputs: ids, mask, token types
  // The request may ask for mean pooling instead.
  TaskRequest req = Texts({"hello"});
  req.strings["pooling"] = "mean";
  r = task->Run(req, runner);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->embeddings[0], (std::vector<float>{3.0f, 1.0f}));
  EXPECT_NE(r->result_json.find(R"("pooling":"mean")"), std::string::npos);
  req.strings["pooling"] = "max";
  EXPECT_EQ(task->Run(req, runner).status().code(), StatusCode::kInvalidArgument);
}

TEST(TextEmbeddings, Limits) {
  auto dir = TempDir("limits");
  TaskLimits limits;
  limits.max_text_bytes = 20;
  auto task = Make(Entry(dir, "text-embeddings", "{}"), limits);
  ASSERT_TRUE(task);
  FakeRunner runner;
  auto expect = [&](const TaskRequest& req, std::string_view msg) {
    auto r = task->Run(req, runner);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(msg), std::string::npos) << r.status().message();
  };
  expect(Texts({}), "text: required");
  expect(Texts({"hello", ""}), "text[1]: empty");
  expect(Texts({""}, false), "text: empty");
  expect(Texts(std::vector<std::string>(101, "hello")), "at most 100 texts");
  expect(Texts({"hello", "hello", std::string(21, 'a')}), "text[2]: 21 bytes");
  EXPECT_TRUE(task->Run(Texts(std::vector<std::string>(100, "hello")), runner).ok());
  EXPECT_TRUE(runner.calls.size() >= 13u);  // 100 texts in sub-batches of at most 8
  for (const auto& c : runner.calls) EXPECT_LE(c[0].shape[0], 8);
}

TEST(TextEmbeddings, BadSettings) {
  auto dir = TempDir("bad");
  TaskRegistry r;
  RegisterTextTasks(r);
  for (std::string s : {R"({"pooling":"max"})", R"({"inputs":["pixel_values"]})", R"({"tokenizer":"../x"})",
                        R"({"typo":1})", R"({"max_length":1})"}) {
    auto t = r.Create(Entry(dir, "text-embeddings", s), {});
    EXPECT_FALSE(t.ok()) << s;
  }
  auto t = r.Create(Entry(dir, "text-embeddings", R"({"tokenizer":"missing.txt"})"), {});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("missing.txt"), std::string::npos);
}

// Through the catalog: an entry whose tokenizer leaves its folder is listed with the error.
TEST(TextEmbeddings, TokenizerMustBeAFileInsideTheEntryFolder) {
  auto root = TempDir("asset_root");
  fs::create_directories(root / "catalog" / "entry");
  std::ofstream(root / "vocab.txt") << kVocab;
  fs::create_symlink(root / "vocab.txt", root / "catalog" / "entry" / "vocab.txt");
  std::ofstream(root / "catalog" / "entry" / "catalog.json")
      << R"({"name": "@x/e", "task": "text-embeddings", "models": {"encoder": "enc"}, "settings": {}})";
  TaskRegistry reg;
  RegisterTextTasks(reg);
  auto catalog = Catalog::Load(root / "catalog", reg, {});
  ASSERT_TRUE(catalog.ok());
  ASSERT_EQ((*catalog)->items().size(), 1u);
  const auto& item = (*catalog)->items()[0];
  EXPECT_FALSE(item.task);
  EXPECT_NE(item.error.find("settings.tokenizer: must name a file inside the entry folder"),
            std::string::npos)
      << item.error;
  // A FIFO would block the catalog's load.
  fs::remove(root / "catalog" / "entry" / "vocab.txt");
  ASSERT_EQ(::mkfifo((root / "catalog" / "entry" / "tokenizer.json").c_str(), 0600), 0);
  auto made = reg.Create(
      Entry(root / "catalog" / "entry", "text-embeddings", R"({"tokenizer":"tokenizer.json"})"), {});
  EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument) << made.status().ToString();
  EXPECT_NE(made.status().message().find("not a regular file"), std::string::npos) << made.status().message();
  fs::remove_all(root);
}

TEST(TextEncoder, PlanGroupsSimilarLengths) {
  EXPECT_EQ(TextEncoder::Bucket(1, 512), 4u);
  EXPECT_EQ(TextEncoder::Bucket(8, 512), 8u);
  EXPECT_EQ(TextEncoder::Bucket(33, 512), 36u);
  EXPECT_EQ(TextEncoder::Bucket(65, 512), 72u);
  EXPECT_EQ(TextEncoder::Bucket(129, 512), 144u);
  EXPECT_EQ(TextEncoder::Bucket(500, 512), 512u);
  EXPECT_EQ(TextEncoder::Bucket(61, 62), 62u);  // never past the model's length
  for (size_t n = 1; n <= 512; ++n) EXPECT_LE(TextEncoder::Bucket(n, 512), n + n / 8 + 3) << n;

  std::vector<size_t> lengths = {5, 100, 6, 7, 5, 90, 8, 30, 6, 5};
  auto plan = TextEncoder::Plan(lengths, 3, 512);
  std::vector<int> seen(lengths.size(), 0);
  for (const auto& g : plan) {
    EXPECT_LE(g.texts.size(), 3u);
    for (size_t i : g.texts) {
      ++seen[i];
      EXPECT_EQ(TextEncoder::Bucket(lengths[i], 512), g.padded_length);
    }
  }
  EXPECT_EQ(seen, std::vector<int>(lengths.size(), 1));
  // {5,5,5} {6,6,7} {8} (bucket 8) {30} (32) {90} (96) {100} (104)
  ASSERT_EQ(plan.size(), 6u);
  EXPECT_EQ(plan[0].texts, (std::vector<size_t>{0, 4, 9}));
  EXPECT_EQ(plan[0].padded_length, 8u);
  EXPECT_EQ(plan[1].texts, (std::vector<size_t>{2, 8, 3}));
}

TEST(TextClassification, SoftmaxSortedWithLabels) {
  auto dir = TempDir("cls_task");
  auto task = Make(Entry(dir, "text-classification", R"({"labels":["A","B","C"]})"));
  ASSERT_TRUE(task);
  FakeRunner runner;
  runner.logits = true;
  // "hello" -> logits (4, 0, 1): softmax e^4, 1, e over their sum.
  auto r = task->Run(Texts({"hello"}, false), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  double z = std::exp(4.0) + 1 + std::exp(1.0);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(r->result_json).get(doc));
  ASSERT_EQ(simdjson::dom::array(doc).size(), 3u);
  EXPECT_EQ(std::string_view(doc.at(0)["label"]), "A");
  EXPECT_NEAR(double(doc.at(0)["score"]), std::exp(4.0) / z, 1e-6);
  EXPECT_EQ(std::string_view(doc.at(1)["label"]), "C");
  EXPECT_NEAR(double(doc.at(1)["score"]), std::exp(1.0) / z, 1e-6);
  EXPECT_EQ(std::string_view(doc.at(2)["label"]), "B");

  TaskRequest req = Texts({"hello", "cat"});
  req.numbers["top_k"] = 1;
  r = task->Run(req, runner);
  ASSERT_TRUE(r.ok());
  // "cat" -> logits (7, 0, 1); a list of texts gives a list of lists.
  EXPECT_EQ(r->result_json.substr(0, 21), R"([[{"label":"A","score)");
  ASSERT_FALSE(parser.parse(r->result_json).get(doc));
  EXPECT_EQ(simdjson::dom::array(doc).size(), 2u);
  EXPECT_EQ(simdjson::dom::array(doc.at(1)).size(), 1u);
  req.numbers["top_k"] = 0;
  EXPECT_FALSE(task->Run(req, runner).ok());
}

TEST(TextClassification, DefaultLabelsAndMismatch) {
  auto dir = TempDir("cls_default");
  FakeRunner runner;
  runner.logits = true;
  auto task = Make(Entry(dir, "text-classification", "{}"));
  auto r = task->Run(Texts({"hello"}, false), runner);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->result_json.find("LABEL_0"), std::string::npos);
  task = Make(Entry(dir, "text-classification", R"({"labels":["A","B"]})"));
  EXPECT_EQ(task->Run(Texts({"hello"}, false), runner).status().code(), StatusCode::kInternal);
}

// ---- the real tiny models ---------------------------------------------------------------------

// Counts and sizes the requests passed to the repository.
class CountingRunner final : public ModelRunner {
 public:
  explicit CountingRunner(ModelRunner* inner) : inner_(inner) {}
  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor> inputs,
                                                      std::vector<std::string> outputs) override {
    {
      std::lock_guard lock(mu);
      shapes.push_back(inputs[0].shape);
    }
    return inner_->RunAsync(model, std::move(inputs), std::move(outputs));
  }
  std::mutex mu;
  std::vector<Shape> shapes;

 private:
  ModelRunner* inner_;
};

class TextTinyModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SetLogLevel(LogLevel::kError);
    root_ = new fs::path(TempDir("tiny"));
    for (auto [folder, name] : {std::pair{"tiny-bert-embeddings", "@cf/test/emb"},
                                std::pair{"tiny-bert-sentiment", "@cf/test/sentiment"}}) {
      std::string entry;
      ImportOptions o;
      o.max_batch_size = 8;
      ASSERT_TRUE(
          ImportHuggingFaceFolder(kTiny / folder, *root_ / "models", *root_ / "catalog", name, o, &entry)
              .ok());
    }
    auto engine = runtime::Engine::Create({.intra_op_threads = 1});
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value().release();
    RepositoryOptions ro;
    ro.root = *root_ / "models";
    repo_ = new ModelRepository(ro, engine_, nullptr);
    ASSERT_TRUE(repo_->Start().ok());
    ASSERT_TRUE(repo_->Ready());
    TaskRegistry reg;
    RegisterTextTasks(reg);
    auto catalog = Catalog::Load(*root_ / "catalog", reg, {});
    ASSERT_TRUE(catalog.ok());
    catalog_ = std::move(catalog).value().release();
  }
  static void TearDownTestSuite() {
    delete catalog_;
    if (repo_) repo_->Shutdown();
    delete repo_;
    delete engine_;
    fs::remove_all(*root_);
    delete root_;
  }
  const Task& Get(std::string_view name) {
    auto* item = catalog_->Find(name);
    EXPECT_TRUE(item && item->task) << (item ? item->error : "no entry");
    return *item->task;
  }
  static fs::path* root_;
  static runtime::Engine* engine_;
  static ModelRepository* repo_;
  static Catalog* catalog_;
};
fs::path* TextTinyModels::root_ = nullptr;
runtime::Engine* TextTinyModels::engine_ = nullptr;
ModelRepository* TextTinyModels::repo_ = nullptr;
Catalog* TextTinyModels::catalog_ = nullptr;

TEST_F(TextTinyModels, BatchedEmbeddingsEqualOneByOne) {
  const Task& task = Get("@cf/test/emb");
  std::vector<std::string> texts;
  const char* words[] = {"the",  "movie",     "was",     "great", "café",
                         "中国", "unaffable", "playing", "book",  "zzz"};
  for (int i = 0; i < 40; ++i) {
    std::string t;
    for (int w = 0; w <= (i * 7) % 23; ++w) t += std::string(w ? " " : "") + words[(i + w * 3) % 10];
    texts.push_back(t);
  }
  RepositoryRunner repo_runner(repo_);
  CountingRunner runner(&repo_runner);
  auto batched = task.Run(Texts(texts), runner);
  ASSERT_TRUE(batched.ok()) << batched.status().ToString();
  ASSERT_EQ(batched->embeddings.size(), texts.size());
  EXPECT_LT(runner.shapes.size(), 20u);  // sub-batches, not one request per text
  for (const auto& s : runner.shapes) EXPECT_LE(s[0], 8);
  int64_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto one = task.Run(Texts({texts[i]}, false), repo_runner);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    tokens += one->tokens;
    ASSERT_EQ(one->embeddings[0].size(), 32u);
    double norm = 0;
    for (size_t d = 0; d < 32; ++d) {
      EXPECT_NEAR(batched->embeddings[i][d], one->embeddings[0][d], 1e-5) << "text " << i << " dim " << d;
      norm += one->embeddings[0][d] * one->embeddings[0][d];
    }
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  EXPECT_EQ(tokens, batched->tokens);
}

TEST_F(TextTinyModels, TruncatesAtTheModelsMaxLength) {
  const Task& task = Get("@cf/test/emb");
  RepositoryRunner runner(repo_);
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "great movie ";
  auto r = task.Run(Texts({long_text, "the book"}), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();  // 64 position embeddings: longer would fail
  EXPECT_EQ(r->tokens, 64 + 4);
}

TEST_F(TextTinyModels, SentimentClassifier) {
  const Task& task = Get("@cf/test/sentiment");
  RepositoryRunner runner(repo_);
  auto r =
      task.Run(Texts({"What a great, wonderful movie!", "A terrible and boring film.", "the book"}), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(r->result_json).get(doc));
  EXPECT_EQ(std::string_view(doc.at(0).at(0)["label"]), "POSITIVE");
  EXPECT_GT(double(doc.at(0).at(0)["score"]), 0.9);
  EXPECT_EQ(std::string_view(doc.at(1).at(0)["label"]), "NEGATIVE");
  double sum = double(doc.at(2).at(0)["score"]) + double(doc.at(2).at(1)["score"]);
  EXPECT_NEAR(sum, 1.0, 1e-5);
  // One at a time gives the same scores.
  auto one = task.Run(Texts({"A terrible and boring film."}, false), runner);
  ASSERT_TRUE(one.ok());
  simdjson::dom::parser parser1;
  simdjson::dom::element d1;
  ASSERT_FALSE(parser1.parse(one->result_json).get(d1));
  EXPECT_NEAR(double(d1.at(0)["score"]), double(doc.at(1).at(0)["score"]), 1e-5);
}

}  // namespace
}  // namespace continuum::tasks::text
