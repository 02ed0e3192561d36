#include "tasks/vision/classify_task.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include "repository/repository.h"
#include "runtime/runtime.h"
#include "scheduler/stats.h"
#include "tasks/builtin.h"
#include "tasks/image/testing.h"
#include "tasks/runner.h"
#include "tasks/test_util.h"
#include "telemetry/metrics.h"

namespace continuum::tasks::vision {
namespace {

namespace fs = std::filesystem;
using image::testing::EncodeJpeg;
using image::testing::EncodePng;
using image::testing::Solid;

class FakeRunner : public ModelRunner {
 public:
  std::function<StatusOr<std::vector<Tensor>>(const std::vector<Tensor>&)> model;
  std::vector<Tensor> sent;
  std::vector<std::string> asked_outputs;
  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& name, std::vector<Tensor> inputs,
                                                      std::vector<std::string> outputs) override {
    std::promise<StatusOr<std::vector<Tensor>>> p;
    sent.push_back(inputs.at(0));
    asked_outputs = outputs;
    p.set_value(name == "clf" ? model(inputs) : StatusOr<std::vector<Tensor>>(NotFound("no model " + name)));
    return p.get_future();
  }
};

Tensor Logits(std::vector<float> v) {
  Tensor t{"logits", DataType::kFp32, {1, static_cast<int64_t>(v.size())}, {}};
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

class VisionTaskTest : public test_util::EntryTest {
 protected:
  VisionTaskTest() : EntryTest("vision", "labels.txt", "cat\r\ndog\nbird\n\n") {}
  CatalogEntry Entry(std::string settings = R"({"labels":"labels.txt"})") {
    return NewEntry("image-classification", {{"model", "clf"}}, std::move(settings));
  }
  std::unique_ptr<ImageClassificationTask> Make(std::string settings = R"({"labels":"labels.txt"})") {
    return EntryTest::Make<ImageClassificationTask>(Entry(std::move(settings)));
  }
};

TEST_F(VisionTaskTest, PreprocessesRunsAndRanks) {
  auto task = Make();
  FakeRunner runner;
  runner.model = [](const std::vector<Tensor>&) -> StatusOr<std::vector<Tensor>> {
    return std::vector<Tensor>{Logits({0.f, std::log(3.f), -1000.f})};
  };
  TaskRequest req;
  req.binary = EncodePng(Solid(300, 400, 255, 0, 0));
  auto r = task->Run(req, runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(r->result_json).get(doc)) << r->result_json;
  simdjson::dom::array a = doc.get_array().value();
  ASSERT_EQ(a.size(), 3u);  // top_k 5 clamped to the 3 labels
  const char* want_labels[] = {"dog", "cat", "bird"};
  const double want_scores[] = {0.75, 0.25, 0};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::string_view(a.at(i)["label"].get_string().value()), want_labels[i]);
    EXPECT_NEAR(a.at(i)["score"].get_double().value(), want_scores[i], 1e-6);
  }

  const Tensor& x = runner.sent.at(0);
  EXPECT_EQ(x.name, "pixel_values");
  EXPECT_EQ(x.shape, (Shape{1, 3, 224, 224}));
  std::vector<float> v(x.data.size() / 4);
  std::memcpy(v.data(), x.data.data(), x.data.size());
  EXPECT_NEAR(v[0], (1 - 0.485f) / 0.229f, 1e-4);                  // R plane
  EXPECT_NEAR(v[224 * 224], (0 - 0.456f) / 0.224f, 1e-4);          // G plane
  EXPECT_NEAR(v[2 * 224 * 224 + 5], (0 - 0.406f) / 0.225f, 1e-4);  // B plane
  EXPECT_TRUE(runner.asked_outputs.empty());

  req.numbers["top_k"] = 1;
  r = task->Run(req, runner);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result_json.substr(0, 28), R"([{"label":"dog","score":0.75)");
  EXPECT_EQ(std::count(r->result_json.begin(), r->result_json.end(), '{'), 1);
  req.numbers["top_k"] = 0;
  EXPECT_EQ(task->Run(req, runner).status().code(), StatusCode::kInvalidArgument);
  req.numbers["top_k"] = 1.5;
  EXPECT_EQ(task->Run(req, runner).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(VisionTaskTest, SettingsShapeTheInput) {
  auto task = Make(R"({"labels":"labels.txt","resize_short":64,"crop":32,"mean":[0,0,0],"std":[1,1,1],)"
                   R"("bgr":true,"input":"images","output":"probs","softmax":false,"top_k":2})");
  FakeRunner runner;
  runner.model = [](const std::vector<Tensor>&) -> StatusOr<std::vector<Tensor>> {
    return std::vector<Tensor>{Logits({0.1f, 0.2f, 0.7f})};
  };
  TaskRequest req;
  req.binary = EncodeJpeg(Solid(64, 64, 0, 0, 255), 100);
  auto r = task->Run(req, runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->result_json, R"([{"label":"bird","score":0.7},{"label":"dog","score":0.2}])");
  const Tensor& x = runner.sent.at(0);
  EXPECT_EQ(x.name, "images");
  EXPECT_EQ(x.shape, (Shape{1, 3, 32, 32}));
  float first;
  std::memcpy(&first, x.data.data(), 4);
  EXPECT_NEAR(first, 1.f, 0.01f);  // BGR: blue first
  EXPECT_EQ(runner.asked_outputs, (std::vector<std::string>{"probs"}));
}

TEST_F(VisionTaskTest, Errors) {
  auto task = Make();
  FakeRunner runner;
  runner.model = [](const std::vector<Tensor>&) -> StatusOr<std::vector<Tensor>> {
    return std::vector<Tensor>{Logits({1, 2, 3, 4})};
  };
  TaskRequest req;
  EXPECT_EQ(task->Run(req, runner).status().code(), StatusCode::kInvalidArgument);
  req.binary = "GIF89a....";
  EXPECT_EQ(task->Run(req, runner).status().message(), "image: GIF is not supported (send PNG or JPEG)");
  req.binary = EncodePng(Solid(8, 8, 1, 2, 3));
  auto r = task->Run(req, runner);
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  EXPECT_EQ(r.status().message(),
            "image-classification: model 'clf': output 'logits' [1,4] has 4 values but the labels file has 3 "
            "labels");

  auto err = [&](std::string settings) {
    auto t = ImageClassificationTask::Create(Entry(std::move(settings)), {});
    return t.ok() ? std::string("ok") : t.status().message();
  };
  EXPECT_EQ(err(R"({})"), "settings.labels: required (class names, one per line)");
  EXPECT_EQ(err(R"({"labels":"labels.txt","crop":300})"), "settings.crop: exceeds resize_short");
  EXPECT_EQ(err(R"({"labels":"labels.txt","std":[1,0,1]})"), "settings.std: expected 3 positive numbers");
  EXPECT_EQ(err(R"({"labels":"labels.txt","mean":[1,2]})"), "settings.mean: expected an array of 3 numbers");
  EXPECT_EQ(err(R"({"labels":"labels.txt","colour":1})").substr(0, 32), "settings.colour: unknown (known:");
  EXPECT_NE(err(R"({"labels":"nope.txt"})").find("nope.txt"), std::string::npos);
  CatalogEntry e = Entry();
  e.models = {{"backbone", "x"}};
  EXPECT_EQ(ImageClassificationTask::Create(e, {}).status().message(),
            "models.backbone: unknown role (image-classification uses model)");
}

TEST_F(VisionTaskTest, LabelsMustBeAFileInsideTheEntryFolder) {
  tasks::test_util::ExpectOutsideAssetsRefused(
      dir_, "labels", "secret.txt", {"/dev/zero"}, [&](std::string settings) {
        return ImageClassificationTask::Create(Entry(std::move(settings)), TaskLimits{});
      });
}

TEST(VisionPreprocessTest, ResizeShortSideThenCentreCrop) {
  // 400 x 300, left half black, right half white: resized to 341 x 256, cropped 224 x 224 from
  // x = 59, so the crop's middle column is the image's middle.
  image::Image img = Solid(400, 300, 255, 255, 255);
  for (int y = 0; y < 300; ++y) {
    for (int x = 0; x < 200; ++x) std::memset(img.at(x, y), 0, 3);
  }
  image::Image c = ResizeAndCrop(img, 256, 224);
  ASSERT_EQ(c.width, 224);
  ASSERT_EQ(c.height, 224);
  EXPECT_EQ(c.at(100, 100)[0], 0);
  EXPECT_EQ(c.at(124, 100)[0], 255);
  image::Image tall = ResizeAndCrop(Solid(30, 90, 9, 9, 9), 16, 16);
  EXPECT_EQ(tall.width, 16);
  EXPECT_EQ(tall.height, 16);
  EXPECT_EQ(tall.at(8, 8)[0], 9);
}

TEST(VisionPreprocessTest, TopK) {
  const std::vector<std::string> labels = {"a", "b", "c", "d"};
  auto top = TopK({1.f, 3.f, 3.f, NAN}, labels, 10, false);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].label, "b");  // ties keep the lower index first
  EXPECT_EQ(top[1].label, "c");
  EXPECT_EQ(top[2].label, "a");
  EXPECT_EQ(top[3].label, "d");                                       // NaN last
  auto soft = TopK({1000.f, 1000.f, -1000.f, 0.f}, labels, 2, true);  // no overflow
  EXPECT_NEAR(soft[0].score, 0.5f, 1e-6);
  EXPECT_NEAR(soft[1].score, 0.5f, 1e-6);
}

TEST(VisionSchemaTest, SchemasAreJsonAndTheKindIsRegistered) {
  TaskRegistry registry;
  RegisterImageClassificationTask(registry);
  EXPECT_EQ(registry.Kinds(), (std::vector<std::string>{"image-classification"}));
  CatalogEntry e;
  e.name = "@t/x";
  e.task = "image-classification";
  e.models = {{"model", "tiny_color_cnn"}};
  e.settings_json = R"({"labels":"labels.txt"})";
  e.dir = fs::path(CONTINUUM_TINY_CNN_DIR) / "tiny_color_cnn";
  auto task = registry.Create(e, {});
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_FALSE(parser.parse((*task)->InputSchema()).get(doc));
  EXPECT_FALSE(parser.parse((*task)->OutputSchema()).get(doc));
}

// The generated tiny CNN through a real repository and scheduler: it names the colour.
TEST(VisionRealModelTest, TinyCnnNamesTheColour) {
  auto engine = runtime::Engine::Create({.intra_op_threads = 1});
  ASSERT_TRUE(engine.ok());
  telemetry::Registry metrics;
  InferenceMetricFamilies families(metrics);
  RepositoryOptions ro;
  ro.root = CONTINUUM_TINY_CNN_DIR;
  ModelRepository repository(ro, engine->get(), &families);
  ASSERT_TRUE(repository.Start().ok());
  RepositoryRunner runner(&repository);

  CatalogEntry e;
  e.models = {{"model", "tiny_color_cnn"}};
  e.settings_json = R"({"labels":"labels.txt"})";
  e.dir = fs::path(CONTINUUM_TINY_CNN_DIR) / "tiny_color_cnn";
  auto task = ImageClassificationTask::Create(e, {});
  ASSERT_TRUE(task.ok()) << task.status().ToString();

  struct Case {
    image::Image img;
    bool jpeg;
    const char* want;
  };
  const Case cases[] = {{Solid(640, 480, 230, 20, 20), false, "red"},
                        {Solid(100, 300, 10, 200, 30), true, "green"},
                        {Solid(224, 224, 0, 0, 255), false, "blue"}};
  for (const Case& c : cases) {
    TaskRequest req;
    req.binary = c.jpeg ? EncodeJpeg(c.img) : EncodePng(c.img);
    auto r = (*task)->Run(req, runner);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_FALSE(parser.parse(r->result_json).get(doc)) << r->result_json;
    simdjson::dom::array a = doc.get_array().value();
    ASSERT_EQ(a.size(), 3u) << r->result_json;  // top_k 5, clamped to the 3 labels
    EXPECT_EQ(std::string_view(a.at(0)["label"].get_string().value()), c.want) << r->result_json;
    EXPECT_GT(a.at(0)["score"].get_double().value(), 0.9) << r->result_json;
  }
  repository.Shutdown();
}

}  // namespace
}  // namespace continuum::tasks::vision
