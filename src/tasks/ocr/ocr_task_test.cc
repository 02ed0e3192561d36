#include "tasks/ocr/ocr_task.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>

#include "tasks/image/testing.h"
#include "tasks/ocr/strip.h"
#include "tasks/test_util.h"

namespace continuum::tasks::ocr {
namespace {

namespace fs = std::filesystem;

// Answers each model with a function of its inputs, and records what it was sent.
class FakeRunner : public ModelRunner {
 public:
  using Fn = std::function<StatusOr<std::vector<Tensor>>(const std::vector<Tensor>&)>;
  std::map<std::string, Fn> models;
  std::map<std::string, std::vector<Tensor>> sent;  // model -> the input of each call

  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor> inputs,
                                                      std::vector<std::string>) override {
    std::promise<StatusOr<std::vector<Tensor>>> p;
    {
      std::lock_guard lock(mu_);
      sent[model].push_back(inputs.at(0));
    }
    auto it = models.find(model);
    if (it == models.end()) {
      p.set_value(NotFound("no model " + model));
    } else {
      p.set_value(it->second(inputs));
    }
    return p.get_future();
  }

 private:
  std::mutex mu_;
};

Tensor FloatTensor(Shape shape, const std::vector<float>& v) {
  Tensor t{"out", DataType::kFp32, std::move(shape), {}};
  t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  return t;
}

std::vector<float> FloatsOf(const Tensor& t) {
  std::vector<float> v(t.data.size() / 4);
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

struct Rect {
  float x0, y0, x1, y1;  // fractions of the detector input
};

// A detector that marks the given rectangles as text (probability 0.9).
FakeRunner::Fn Detector(std::vector<Rect> rects) {
  return [rects](const std::vector<Tensor>& in) -> StatusOr<std::vector<Tensor>> {
    const int64_t h = in[0].shape[2], w = in[0].shape[3];
    std::vector<float> p(static_cast<size_t>(h * w), 0.f);
    for (const Rect& r : rects) {
      for (int64_t y = static_cast<int64_t>(r.y0 * h); y <= static_cast<int64_t>(r.y1 * h); ++y) {
        for (int64_t x = static_cast<int64_t>(r.x0 * w); x <= static_cast<int64_t>(r.x1 * w); ++x) {
          p[static_cast<size_t>(y * w + x)] = 0.9f;
        }
      }
    }
    return std::vector<Tensor>{FloatTensor({1, 1, h, w}, p)};
  };
}

// A recognizer that reads "ab c" in every line (keys a, b, c; class 4 is the space).
FakeRunner::Fn Recognizer(int classes = 5) {
  return [classes](const std::vector<Tensor>& in) -> StatusOr<std::vector<Tensor>> {
    const int64_t n = in[0].shape[0], steps = in[0].shape[3] / 8;
    std::vector<float> p(static_cast<size_t>(n * steps * classes), 0.f);
    const int path[] = {1, 2, 4, 3};
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t t = 0; t < steps; ++t) {
        const int c = t < 4 ? path[t] : 0;
        p[static_cast<size_t>((i * steps + t) * classes + c)] = 0.9f;
      }
    }
    return std::vector<Tensor>{FloatTensor({n, steps, classes}, p)};
  };
}

FakeRunner::Fn Classifier(float p180) {
  return [p180](const std::vector<Tensor>& in) -> StatusOr<std::vector<Tensor>> {
    const int64_t n = in[0].shape[0];
    std::vector<float> p;
    for (int64_t i = 0; i < n; ++i) p.insert(p.end(), {1 - p180, p180});
    return std::vector<Tensor>{FloatTensor({n, 2}, p)};
  };
}

class OcrTaskTest : public test_util::EntryTest {
 protected:
  OcrTaskTest() : EntryTest("ocr", "keys.txt", "a\nb\nc\n") {}

  CatalogEntry Entry(std::string settings = R"({"keys":"keys.txt"})", bool cls = true) {
    CatalogEntry e = NewEntry("ocr", {{"det", "det"}, {"rec", "rec"}}, std::move(settings));
    if (cls) e.models["cls"] = "cls";
    return e;
  }

  std::unique_ptr<OcrTask> Make(std::string settings = R"({"keys":"keys.txt"})", bool cls = true) {
    return EntryTest::Make<OcrTask>(Entry(std::move(settings), cls));
  }

  // 400 x 200: black on the left half, white on the right.
  static std::string HalfAndHalf() {
    image::Image img = image::testing::Solid(400, 200, 255, 255, 255);
    for (int y = 0; y < 200; ++y) {
      for (int x = 0; x < 200; ++x) std::memset(img.at(x, y), 0, 3);
    }
    return image::testing::EncodePng(img);
  }
};

TEST_F(OcrTaskTest, PipelineOverFakeModels) {
  auto task = Make();
  FakeRunner runner;
  runner.models["det"] = Detector({{0.1f, 0.2f, 0.8f, 0.4f}, {0.3f, 0.6f, 0.5f, 0.75f}});
  runner.models["cls"] = Classifier(0.98f);
  runner.models["rec"] = Recognizer();
  TaskRequest req;
  req.binary = HalfAndHalf();
  auto r = task->Run(req, runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  // Detector input: 400x200 rounded to multiples of 32 -> 384x192, BGR, ImageNet-normalized.
  ASSERT_EQ(runner.sent["det"].size(), 1u);
  const Tensor& x = runner.sent["det"][0];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.shape, (Shape{1, 3, 192, 384}));
  auto xv = FloatsOf(x);
  EXPECT_NEAR(xv[383], (1 - 0.485f) / 0.229f, 1e-4);  // white pixel, first (B) channel
  EXPECT_NEAR(xv[0], -0.485f / 0.229f, 1e-4);         // black pixel

  // Two lines, both read, in reading order, with boxes in image pixels.
  ASSERT_EQ(runner.sent["cls"].size(), 1u);
  EXPECT_EQ(runner.sent["cls"][0].shape, (Shape{2, 3, 48, 192}));
  ASSERT_EQ(runner.sent["rec"].size(), 1u);
  const Tensor& rec_in = runner.sent["rec"][0];
  ASSERT_EQ(rec_in.shape.size(), 4u);
  EXPECT_EQ(rec_in.shape[0], 2);
  EXPECT_EQ(rec_in.shape[2], 48);
  EXPECT_GE(rec_in.shape[3], 320);
  const std::string& json = r->result_json;
  EXPECT_EQ(json.find(R"({"lines":[{"text":"ab c","confidence":0.9,"box":[[)"), 0u) << json;
  EXPECT_NE(json.find(R"("text":"ab c\nab c"})"), std::string::npos) << json;

  // The classifier said 180°, so the strips were turned: the wide line (x 10%..80%, black on
  // its left) starts white. Sorted by width, it is the second strip of the batch.
  auto rv = FloatsOf(rec_in);
  const size_t plane = static_cast<size_t>(48 * rec_in.shape[3]), per = plane * 3;
  EXPECT_NEAR(rv[per + plane * 0 + 24 * rec_in.shape[3] + 2], 1.f, 1e-4);
  EXPECT_NEAR(rv[per + 24 * rec_in.shape[3] + 150], -1.f, 1e-4);

  const OcrTimings& t = task->timings();
  EXPECT_EQ(t.pages.load(), 1u);
  EXPECT_EQ(t.lines.load(), 2u);
  EXPECT_GT(t.det_pre_ns.load(), 0u);
}

TEST_F(OcrTaskTest, WithoutClassifierTheStripsAreNotTurned) {
  auto task = Make(R"({"keys":"keys.txt"})", false);
  FakeRunner runner;
  runner.models["det"] = Detector({{0.1f, 0.2f, 0.8f, 0.4f}});
  runner.models["rec"] = Recognizer();
  TaskRequest req;
  req.binary = HalfAndHalf();
  auto r = task->Run(req, runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(runner.sent.count("cls"), 0u);
  const Tensor& rec_in = runner.sent["rec"].at(0);
  auto rv = FloatsOf(rec_in);
  EXPECT_NEAR(rv[24 * rec_in.shape[3] + 2], -1.f, 1e-4);  // black first
}

TEST_F(OcrTaskTest, RecognitionBatchesLinesOfSimilarWidth) {
  auto task = Make(R"({"keys":"keys.txt","rec_batch":6})", false);
  std::vector<Rect> rects;
  for (int i = 0; i < 14; ++i) {
    const float y = 0.02f + i * 0.068f;
    rects.push_back({0.05f, y, 0.2f + 0.05f * static_cast<float>((i * 5) % 14), y + 0.03f});
  }
  FakeRunner runner;
  runner.models["det"] = Detector(rects);
  runner.models["rec"] = Recognizer();
  auto lines = task->Recognize(image::testing::Solid(1200, 900, 200, 200, 200), runner);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 14u);
  for (size_t i = 1; i < lines->size(); ++i) EXPECT_GT((*lines)[i].box[0].y, (*lines)[i - 1].box[0].y);
  const auto& calls = runner.sent["rec"];
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].shape[0], 6);
  EXPECT_EQ(calls[1].shape[0], 6);
  EXPECT_EQ(calls[2].shape[0], 2);
  EXPECT_LE(calls[0].shape[3], calls[1].shape[3]);
  EXPECT_LE(calls[1].shape[3], calls[2].shape[3]);
}

// Like FakeRunner, but each answer is computed only when the task waits for it, so the number
// of batches a request keeps queued at once can be counted.
class DeferredRunner : public ModelRunner {
 public:
  std::map<std::string, FakeRunner::Fn> models;
  std::map<std::string, std::vector<Shape>> shapes;  // model -> the input shape of each call
  int outstanding = 0, max_outstanding = 0;

  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor> inputs,
                                                      std::vector<std::string>) override {
    shapes[model].push_back(inputs.at(0).shape);
    max_outstanding = std::max(max_outstanding, ++outstanding);
    return std::async(std::launch::deferred, [this, model, inputs = std::move(inputs)]() {
      --outstanding;
      return models.at(model)(inputs);
    });
  }
};

std::vector<Rect> WideLines(int n) {
  std::vector<Rect> rects;
  for (int i = 0; i < n; ++i) {
    const float y = 0.02f + i * 0.068f;
    rects.push_back({0.05f, y, 0.95f, y + 0.03f});
  }
  return rects;
}

TEST_F(OcrTaskTest, RecognizerPixelsPerRequestAreCapped) {
  // 14 lines of 1080 x 27 pixels (more once unclipped): each becomes a 48-row strip wider than
  // 320 columns, so rec_max_width 320 sets every width.
  const image::Image page = image::testing::Solid(1200, 900, 200, 200, 200);
  auto run = [&](const std::string& settings, FakeRunner& runner) {
    auto task = Make(settings);
    runner.models["det"] = Detector(WideLines(14));
    runner.models["cls"] = Classifier(0.f);
    runner.models["rec"] = Recognizer();
    return task->Recognize(page, runner);
  };
  FakeRunner fits;
  auto ok = run(R"({"keys":"keys.txt","rec_max_width":320,"max_rec_pixels":215040})", fits);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();  // 14 x 48 x 320 = 215040: at the limit
  EXPECT_EQ(ok->size(), 14u);

  FakeRunner over;
  auto r = run(R"({"keys":"keys.txt","rec_max_width":320,"max_rec_pixels":215039})", over);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPayloadTooLarge);
  EXPECT_EQ(
      r.status().message(),
      "ocr: the 14 text lines found need 215040 recognizer pixels (48 rows x their widths), over the "
      "limit settings.max_rec_pixels = 215039; send part of the page, or raise the limit in the catalog "
      "entry");
  // Refused after detection, before any line was classified or recognized.
  EXPECT_EQ(over.sent.count("cls"), 0u);
  EXPECT_EQ(over.sent.count("rec"), 0u);

  // The default bounds a page too: 14 lines at the default width cap fit, 400 do not.
  OcrSettings defaults;
  EXPECT_LE(14 * 48 * defaults.rec_max_width, defaults.max_rec_pixels);
  EXPECT_LT(defaults.max_rec_pixels, int64_t{400} * 48 * defaults.rec_max_width);
}

TEST_F(OcrTaskTest, RecognizerBatchesAreBoundedInWidthCountAndFlight) {
  auto task = Make(R"({"keys":"keys.txt","rec_batch":3,"rec_max_width":400,"max_batches_in_flight":2})");
  DeferredRunner runner;
  runner.models["det"] = Detector(WideLines(14));
  runner.models["cls"] = Classifier(0.f);
  runner.models["rec"] = Recognizer();
  auto lines = task->Recognize(image::testing::Solid(1200, 900, 200, 200, 200), runner);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 14u);
  const auto& rec = runner.shapes["rec"];
  ASSERT_EQ(rec.size(), 5u);  // 3 + 3 + 3 + 3 + 2 lines
  int64_t sent = 0;
  for (const Shape& shape : rec) {
    EXPECT_LE(shape[0], 3);
    EXPECT_EQ(shape[3], 400);  // wider lines resized down to the cap
    sent += shape[0];
  }
  EXPECT_EQ(sent, 14);
  EXPECT_EQ(runner.max_outstanding, 2);
  EXPECT_EQ(runner.outstanding, 0);

  // Without the settings (and without the classifier): 6 lines per batch, 2 batches queued at most.
  auto defaults = Make(R"({"keys":"keys.txt"})", false);
  DeferredRunner more;
  more.models = runner.models;
  more.models.erase("cls");
  ASSERT_TRUE(defaults->Recognize(image::testing::Solid(1200, 900, 200, 200, 200), more).ok());
  EXPECT_EQ(more.shapes["rec"].size(), 3u);
  EXPECT_EQ(more.max_outstanding, 2);
  EXPECT_GT(more.shapes["rec"][0][3], 400);
}

TEST_F(OcrTaskTest, ModelErrorsCarryContext) {
  auto task = Make();
  TaskRequest req;
  req.binary = HalfAndHalf();
  {
    FakeRunner runner;  // no models at all
    auto r = task->Run(req, runner);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
    EXPECT_EQ(r.status().message(), "ocr: text detection model 'det': no model det");
  }
  {
    FakeRunner runner;
    runner.models["det"] = Detector({{0.1f, 0.2f, 0.8f, 0.4f}});
    runner.models["cls"] = Classifier(0.f);
    runner.models["rec"] = Recognizer(97);
    auto r = task->Run(req, runner);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
    EXPECT_NE(r.status().message().find("the recognizer has 97 classes but the keys file has 3 keys"),
              std::string::npos)
        << r.status().message();
  }
  {
    FakeRunner runner;
    runner.models["det"] = [](const std::vector<Tensor>&) -> StatusOr<std::vector<Tensor>> {
      return std::vector<Tensor>{FloatTensor({1, 1, 2, 2}, {0, 0, 0, 0})};
    };
    auto r = task->Run(req, runner);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
    EXPECT_NE(r.status().message().find("probability map"), std::string::npos);
  }
}

TEST_F(OcrTaskTest, BadRequests) {
  auto task = Make();
  FakeRunner runner;
  TaskRequest none;
  auto r = task->Run(none, runner);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no image"), std::string::npos);
  TaskRequest junk;
  junk.binary = "definitely not an image";
  r = task->Run(junk, runner);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a PNG or JPEG"), std::string::npos);
  EXPECT_TRUE(runner.sent.empty());

  auto small = OcrTask::Create(Entry(), TaskLimits{.max_image_pixels = 1000});
  ASSERT_TRUE(small.ok());
  TaskRequest big;
  big.binary = HalfAndHalf();
  EXPECT_EQ((*small)->Run(big, runner).status().code(), StatusCode::kPayloadTooLarge);
}

TEST_F(OcrTaskTest, NothingDetectedIsAnEmptyResult) {
  auto task = Make();
  FakeRunner runner;
  runner.models["det"] = Detector({});
  TaskRequest req;
  req.binary = HalfAndHalf();
  auto r = task->Run(req, runner);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result_json, R"({"lines":[],"text":""})");
}

TEST_F(OcrTaskTest, SettingsAreChecked) {
  auto err = [&](std::string settings, bool cls = true) {
    auto t = OcrTask::Create(Entry(std::move(settings), cls), TaskLimits{});
    return t.ok() ? std::string("ok") : t.status().message();
  };
  EXPECT_EQ(err(R"({"keys":"keys.txt","det_thresh":0.2,"det_limit_type":"min","rec_batch":8})"), "ok");
  EXPECT_EQ(err(R"({})"),
            "settings.keys: required (the recognizer's character list, e.g. ppocr_keys_v1.txt)");
  EXPECT_NE(err(R"({"keys":"missing.txt"})").find("missing.txt"), std::string::npos);
  EXPECT_EQ(err(R"({"keys":"keys.txt","det_thresh":2})"), "settings.det_thresh: must be between 0 and 1");
  EXPECT_EQ(err(R"({"keys":"keys.txt","det_limit_type":"avg"})"),
            "settings.det_limit_type: expected \"max\", \"min\" or \"area\"");
  EXPECT_EQ(err(R"({"keys":"keys.txt","use_cls":true})", false),
            "settings.use_cls: true needs a \"cls\" model in models");
  EXPECT_EQ(err(R"({"keys":"keys.txt","rec_batch":1.5})"), "settings.rec_batch: expected an integer");
  EXPECT_EQ(err(R"({"keys":"keys.txt","max_rec_pixels":0})"),
            "settings.max_rec_pixels: must be between 1 and 1073741824");
  EXPECT_EQ(err(R"({"keys":"keys.txt","max_batches_in_flight":65})"),
            "settings.max_batches_in_flight: must be between 1 and 64");
  EXPECT_EQ(err(R"({"keys":"keys.txt","colour":1})").substr(0, 31), "settings.colour: unknown (known");
  CatalogEntry no_det = Entry();
  no_det.models.erase("det");
  EXPECT_EQ(OcrTask::Create(no_det, {}).status().message(),
            "models.det: required (the text detection model)");
  CatalogEntry extra = Entry();
  extra.models["layout"] = "x";
  EXPECT_EQ(OcrTask::Create(extra, {}).status().message(),
            "models.layout: unknown role (ocr uses det, cls, rec)");
}

TEST_F(OcrTaskTest, KeysMustBeAFileInsideTheEntryFolder) {
  tasks::test_util::ExpectOutsideAssetsRefused(dir_, "keys", "keys.txt", {"."}, [&](std::string settings) {
    return OcrTask::Create(Entry(std::move(settings)), TaskLimits{});
  });
  // A symlink that stays inside the folder is fine.
  fs::create_symlink("keys.txt", dir_ / "keys_link.txt");
  EXPECT_TRUE(OcrTask::Create(Entry(R"({"keys":"keys_link.txt"})"), TaskLimits{}).ok());
}

TEST_F(OcrTaskTest, WideLinesAreClassifiedOnUnsqueezedWindows) {
  // One long line: the classifier sees three 192-column windows of it (not the line squeezed
  // into 192 columns) and the line turns only when their mean says 180°.
  auto run = [&](std::vector<float> p180_per_window) {
    auto task = Make();
    FakeRunner runner;
    runner.models["det"] = Detector({{0.05f, 0.3f, 0.95f, 0.36f}});
    runner.models["cls"] = [p180_per_window](const std::vector<Tensor>& in) -> StatusOr<std::vector<Tensor>> {
      std::vector<float> p;
      for (int64_t i = 0; i < in[0].shape[0]; ++i) {
        const float q = p180_per_window.at(static_cast<size_t>(i));
        p.insert(p.end(), {1 - q, q});
      }
      return std::vector<Tensor>{FloatTensor({in[0].shape[0], 2}, p)};
    };
    runner.models["rec"] = Recognizer();
    TaskRequest req;
    req.binary = HalfAndHalf();
    auto r = task->Run(req, runner);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(runner.sent["cls"].at(0).shape, (Shape{3, 3, 48, 192}));
    const Tensor& rec_in = runner.sent["rec"].at(0);
    return FloatsOf(rec_in)[static_cast<size_t>(24 * rec_in.shape[3] + 2)];  // left edge: -1 black, 1 white
  };
  EXPECT_NEAR(run({0.99f, 0.05f, 0.05f}), -1.f, 1e-4);  // one window says 180°: not enough
  EXPECT_NEAR(run({0.99f, 0.95f, 0.97f}), 1.f, 1e-4);   // all do: turned
}

TEST(OcrStripTest, CropStrip) {
  image::Image img = image::testing::Solid(200, 100, 255, 255, 255);
  for (int y = 0; y < 100; ++y) img.at(50, y)[0] = 0;  // a red-less column at x = 50
  // A 100 x 20 box becomes a 48-high strip 240 wide.
  image::Image s = CropStrip(img, Quad{image::PointF{10, 10}, {110, 10}, {110, 30}, {10, 30}}, 48, 3200);
  EXPECT_EQ(s.width, 240);
  EXPECT_EQ(s.height, 48);
  EXPECT_EQ(CropStrip(img, Quad{image::PointF{10, 10}, {110, 10}, {110, 30}, {10, 30}}, 48, 100).width, 100);
  // A tall box (30 x 90) is turned a quarter counter-clockwise: 48 high, 144 wide.
  image::Image t = CropStrip(img, Quad{image::PointF{40, 5}, {70, 5}, {70, 95}, {40, 95}}, 48, 3200);
  EXPECT_EQ(t.width, 144);
  EXPECT_EQ(t.height, 48);
  // The column x = 50 (a third into the box from its left) ends up a row a third from the bottom.
  EXPECT_LT(t.at(70, 48 - 16)[0], 128);
  EXPECT_EQ(t.at(70, 4)[0], 255);
}

TEST(OcrSchemaTest, SchemasAreJson) {
  OcrTask* task = nullptr;
  const auto dir = fs::temp_directory_path() / ("ocr_schema_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "k.txt") << "a\n";
  CatalogEntry e;
  e.models = {{"det", "d"}, {"rec", "r"}};
  e.settings_json = R"({"keys":"k.txt"})";
  e.dir = dir;
  auto t = OcrTask::Create(e, {});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  task = t->get();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_FALSE(parser.parse(task->InputSchema()).get(doc));
  EXPECT_FALSE(parser.parse(task->OutputSchema()).get(doc));
  fs::remove_all(dir);
}

TEST(OcrSizeTest, DetInputSize) {
  OcrSettings s;
  auto size = [&](int w, int h) {
    Size z = DetInputSize(w, h, s);
    return std::pair{z.width, z.height};
  };
  EXPECT_EQ(size(1000, 500), (std::pair{960, 480}));
  EXPECT_EQ(size(100, 50), (std::pair{96, 64}));  // 50/32 = 1.56 -> 2
  EXPECT_EQ(size(10, 10), (std::pair{32, 32}));
  EXPECT_EQ(size(400, 200), (std::pair{384, 192}));  // 12.5 -> 12 (half to even)
  EXPECT_EQ(size(4000, 30), (std::pair{960, 32}));
  s.det_limit = OcrSettings::DetLimit::kMin;
  s.det_limit_side_len = 736;
  EXPECT_EQ(size(400, 200), (std::pair{1472, 736}));
  EXPECT_EQ(size(100000, 400), (std::pair{4096, 32}));  // capped by det_max_side_len
  s.det_limit = OcrSettings::DetLimit::kArea;
  s.det_limit_side_len = 960;
  EXPECT_EQ(size(4000, 60), (std::pair{4000, 64}));  // a ribbon keeps its resolution
  EXPECT_EQ(size(1920, 1920), (std::pair{960, 960}));
  EXPECT_EQ(size(6000, 200), (std::pair{4096, 128}));  // capped by det_max_side_len
}

TEST(OcrJsonTest, ResultShape) {
  OcrLine line{"hi \"there\"", 0.5f, Quad{image::PointF{1, 2}, {3.4f, 2}, {3.6f, 4}, {1, 4}}};
  EXPECT_EQ(OcrResultJson({line, line}),
            R"({"lines":[{"text":"hi \"there\"","confidence":0.5,"box":[[1,2],[3,2],[4,4],[1,4]]},)"
            R"({"text":"hi \"there\"","confidence":0.5,"box":[[1,2],[3,2],[4,4],[1,4]]}],)"
            R"("text":"hi \"there\"\nhi \"there\""})");
}

}  // namespace
}  // namespace continuum::tasks::ocr
