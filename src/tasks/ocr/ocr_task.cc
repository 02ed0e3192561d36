#include "tasks/ocr/ocr_task.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <numeric>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "tasks/builtin.h"
#include "tasks/image/decode.h"
#include "tasks/ocr/ctc.h"
#include "tasks/ocr/strip.h"
#include "tasks/settings.h"

namespace continuum::tasks::ocr {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kClsHeight = 48, kClsWidth = 192;  // the PP-OCR direction classifier's input

void AddSince(std::atomic<uint64_t>& counter, Clock::time_point& since) {
  const auto now = Clock::now();
  counter.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - since).count()),
      std::memory_order_relaxed);
  since = now;
}

const image::ChwNormalization kDetNorm{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 1.f / 255.f, true};
const image::ChwNormalization kLineNorm{{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, 1.f / 255.f, true};

Tensor MakeTensor(Shape shape, const std::vector<float>& values) {
  Tensor t{"x", DataType::kFp32, std::move(shape), {}};
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

StatusOr<std::vector<float>> Floats(const Tensor& t, const std::string& what) {
  if (t.dtype != DataType::kFp32) {
    return Internal(what + ": output '" + t.name + "' is " + std::string(DataTypeName(t.dtype)) +
                    ", expected FP32");
  }
  std::vector<float> v(t.data.size() / sizeof(float));
  std::memcpy(v.data(), t.data.data(), v.size() * sizeof(float));
  return v;
}

}  // namespace

StatusOr<OcrSettings> ParseOcrSettings(const CatalogEntry& entry) {
  OcrSettings s;
  for (const auto& [role, model] : entry.models) {
    if (role == "det") {
      s.det_model = model;
    } else if (role == "cls") {
      s.cls_model = model;
    } else if (role == "rec") {
      s.rec_model = model;
    } else {
      return InvalidArgument("models." + role + ": unknown role (ocr uses det, cls, rec)");
    }
  }
  if (s.det_model.empty()) return InvalidArgument("models.det: required (the text detection model)");
  if (s.rec_model.empty()) return InvalidArgument("models.rec: required (the text recognition model)");

  config::Reader r("settings.");
  config::Object o;
  RETURN_IF_ERROR(r.Parse(entry.settings_json, &o));
  bool use_cls_set = false;
  for (auto [key, v] : o) {
    if (key == "keys") {
      ASSIGN_OR_RETURN(s.keys, AssetSetting(entry, r, v, key));
    } else if (key == "det_limit_side_len") {
      ASSIGN_OR_RETURN(s.det_limit_side_len, r.Int(v, key, 32, 8192));
    } else if (key == "det_limit_type") {
      std::string_view t;
      if (v.get_string().get(t) || (t != "max" && t != "min" && t != "area")) {
        return r.Err(key, "expected \"max\", \"min\" or \"area\"");
      }
      s.det_limit = t == "max"   ? OcrSettings::DetLimit::kMax
                    : t == "min" ? OcrSettings::DetLimit::kMin
                                 : OcrSettings::DetLimit::kArea;
    } else if (key == "det_max_side_len") {
      ASSIGN_OR_RETURN(s.det_max_side_len, r.Int(v, key, 32, 8192));
    } else if (key == "det_thresh") {
      ASSIGN_OR_RETURN(double d, r.Double(v, key, 0, 1));
      s.db.thresh = static_cast<float>(d);
    } else if (key == "det_box_thresh") {
      ASSIGN_OR_RETURN(double d, r.Double(v, key, 0, 1));
      s.db.box_thresh = static_cast<float>(d);
    } else if (key == "det_unclip_ratio") {
      ASSIGN_OR_RETURN(double d, r.Double(v, key, 0, 10));
      s.db.unclip_ratio = static_cast<float>(d);
    } else if (key == "max_candidates") {
      ASSIGN_OR_RETURN(s.db.max_candidates, r.Int(v, key, 1, 100000));
    } else if (key == "use_cls") {
      ASSIGN_OR_RETURN(s.use_cls, r.Bool(v, key));
      use_cls_set = true;
    } else if (key == "cls_thresh") {
      ASSIGN_OR_RETURN(double d, r.Double(v, key, 0, 1));
      s.cls_thresh = static_cast<float>(d);
    } else if (key == "cls_batch") {
      ASSIGN_OR_RETURN(s.cls_batch, r.Int(v, key, 1, 1024));
    } else if (key == "rec_batch") {
      ASSIGN_OR_RETURN(s.rec_batch, r.Int(v, key, 1, 1024));
    } else if (key == "rec_image_height") {
      ASSIGN_OR_RETURN(s.rec_height, r.Int(v, key, 8, 256));
    } else if (key == "rec_min_width") {
      ASSIGN_OR_RETURN(s.rec_min_width, r.Int(v, key, 8, 8192));
    } else if (key == "rec_max_width") {
      ASSIGN_OR_RETURN(s.rec_max_width, r.Int(v, key, 8, 8192));
    } else if (key == "max_rec_pixels") {
      ASSIGN_OR_RETURN(s.max_rec_pixels, r.Int(v, key, 1, 1 << 30));
    } else if (key == "max_batches_in_flight") {
      ASSIGN_OR_RETURN(s.max_batches_in_flight, r.Int(v, key, 1, 64));
    } else if (key == "drop_score") {
      ASSIGN_OR_RETURN(double d, r.Double(v, key, 0, 1));
      s.drop_score = static_cast<float>(d);
    } else if (key == "space_score") {
      ASSIGN_OR_RETURN(double d, r.Double(v, key, 0, 100));
      s.space_score = static_cast<float>(d);
    } else if (key == "ascii_punctuation") {
      ASSIGN_OR_RETURN(s.ascii_punctuation, r.Bool(v, key));
    } else {
      return r.Err(key,
                   "unknown (known: keys, det_limit_side_len, det_limit_type, det_max_side_len, det_thresh, "
                   "det_box_thresh, det_unclip_ratio, max_candidates, use_cls, cls_thresh, cls_batch, "
                   "rec_batch, rec_image_height, rec_min_width, rec_max_width, max_rec_pixels, "
                   "max_batches_in_flight, drop_score, space_score, ascii_punctuation)");
    }
  }
  if (s.keys.empty())
    return r.Err("keys", "required (the recognizer's character list, e.g. ppocr_keys_v1.txt)");
  if (s.cls_model.empty()) {
    if (use_cls_set && s.use_cls) return r.Err("use_cls", "true needs a \"cls\" model in models");
    s.use_cls = false;
  }
  if (s.rec_min_width > s.rec_max_width) return r.Err("rec_min_width", "exceeds rec_max_width");
  return s;
}

Size DetInputSize(int width, int height, const OcrSettings& s) {
  const double limit = s.det_limit_side_len;
  double ratio = 1;
  switch (s.det_limit) {
    case OcrSettings::DetLimit::kMax:
      if (std::max(width, height) > limit) ratio = limit / std::max(width, height);
      break;
    case OcrSettings::DetLimit::kMin:
      if (std::min(width, height) < limit) ratio = limit / std::min(width, height);
      break;
    case OcrSettings::DetLimit::kArea:
      if (double(width) * height > limit * limit) ratio = limit / std::sqrt(double(width) * height);
      break;
  }
  if (std::max(width, height) * ratio > s.det_max_side_len)
    ratio = double(s.det_max_side_len) / std::max(width, height);
  // As PaddleOCR: truncate, then round to the nearest multiple of 32 (half to even), at least 32.
  auto side = [&](int v) {
    const int r = static_cast<int>(v * ratio);
    return std::max(static_cast<int>(std::nearbyint(r / 32.0)) * 32, 32);
  };
  return {side(width), side(height)};
}

// ---- the task ------------------------------------------------------------------------------

struct OcrTask::Strip {
  image::Image img;  // rec_height high
  std::string text;
  float confidence = 0;
};

OcrTask::OcrTask(OcrSettings settings, std::vector<std::string> keys, TaskLimits limits)
    : settings_(std::move(settings)), keys_(std::move(keys)), limits_(limits) {
  const auto k = static_cast<int64_t>(keys_.size());
  classes_ = std::move(ClassTable(keys_, k + 1)).value();
  classes_with_space_ = std::move(ClassTable(keys_, k + 2)).value();
}

StatusOr<std::unique_ptr<OcrTask>> OcrTask::Create(const CatalogEntry& entry, const TaskLimits& limits) {
  ASSIGN_OR_RETURN(OcrSettings s, ParseOcrSettings(entry));
  ASSIGN_OR_RETURN(std::vector<std::string> keys, LoadKeys(s.keys));
  return std::unique_ptr<OcrTask>(new OcrTask(std::move(s), std::move(keys), limits));
}

StatusOr<TaskResult> OcrTask::Run(const TaskRequest& request, ModelRunner& runner) const {
  if (request.binary.empty()) {
    return InvalidArgument("ocr: no image: send a PNG or JPEG as the request body or in \"image\"");
  }
  auto t = Clock::now();
  ASSIGN_OR_RETURN(image::Image img,
                   image::Decode(request.binary, {limits_.max_image_pixels, limits_.max_image_bytes}));
  AddSince(timings_.decode_ns, t);
  ASSIGN_OR_RETURN(std::vector<OcrLine> lines, Recognize(img, runner));
  TaskResult result;
  result.result_json = OcrResultJson(lines);
  return result;
}

StatusOr<std::vector<OcrLine>> OcrTask::Recognize(const image::Image& img, ModelRunner& runner) const {
  const OcrSettings& s = settings_;
  auto t = Clock::now();
  const Size in = DetInputSize(img.width, img.height, s);
  Tensor x = MakeTensor({1, 3, in.height, in.width},
                        image::ToChw(image::Resize(img, in.width, in.height), kDetNorm));
  AddSince(timings_.det_pre_ns, t);

  auto det = runner.Run(s.det_model, {std::move(x)}, {});
  if (!det.ok()) return det.status().WithContext("ocr: text detection model '" + s.det_model + "'");
  AddSince(timings_.det_wait_ns, t);
  const std::string what = "ocr: text detection model '" + s.det_model + "'";
  if (det->empty()) return Internal(what + ": no output");
  const Tensor& map = det->front();
  const Shape& shape = map.shape;
  if (shape.size() < 2 || shape[shape.size() - 2] != in.height || shape.back() != in.width ||
      map.NumElements() != static_cast<int64_t>(in.height) * in.width) {
    return Internal(what + ": output shape " + ShapeToString(shape) + " is not a [1, 1, " +
                    std::to_string(in.height) + ", " + std::to_string(in.width) + "] probability map");
  }
  ASSIGN_OR_RETURN(std::vector<float> prob, Floats(map, what));
  det->clear();
  const std::vector<TextBox> boxes = DbBoxes(prob.data(), in.height, in.width, img.width, img.height, s.db);
  AddSince(timings_.det_post_ns, t);
  timings_.pages.fetch_add(1, std::memory_order_relaxed);
  if (boxes.empty()) return std::vector<OcrLine>{};

  // The recognizer's cost grows with the pixels it is sent: checked before anything is cropped.
  int64_t rec_pixels = 0;
  for (const TextBox& box : boxes) {
    rec_pixels += static_cast<int64_t>(s.rec_height) * StripWidth(box.quad, s.rec_height, s.rec_max_width);
  }
  if (rec_pixels > s.max_rec_pixels) {
    return PayloadTooLarge("ocr: the " + std::to_string(boxes.size()) + " text lines found need " +
                           std::to_string(rec_pixels) + " recognizer pixels (" +
                           std::to_string(s.rec_height) +
                           " rows x their widths), over the limit settings.max_rec_pixels = " +
                           std::to_string(s.max_rec_pixels) +
                           "; send part of the page, or raise the limit in the catalog entry");
  }
  std::vector<Strip> strips(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i)
    strips[i].img = CropStrip(img, boxes[i].quad, s.rec_height, s.rec_max_width);
  AddSince(timings_.crop_ns, t);
  if (s.use_cls) RETURN_IF_ERROR(Classify(strips, runner));
  RETURN_IF_ERROR(RecognizeStrips(strips, runner));

  std::vector<OcrLine> lines;
  for (size_t i = 0; i < strips.size(); ++i) {
    if (strips[i].text.empty() || strips[i].confidence < s.drop_score) continue;
    lines.push_back({std::move(strips[i].text), strips[i].confidence, boxes[i].quad});
  }
  timings_.lines.fetch_add(lines.size(), std::memory_order_relaxed);
  return lines;
}

namespace {

// The time counters of one stage that sends batches to a model.
struct StageTimes {
  std::atomic<uint64_t>& pre_ns;
  std::atomic<uint64_t>& wait_ns;
  std::atomic<uint64_t>& post_ns;
};

// Sends `items` in batches of `batch` to `model`, with at most `max_in_flight` batches queued at
// once: make(begin, count) builds a batch's input, take(begin, count, output) reads the first
// output of its answer. Errors name `what`.
Status RunBatches(ModelRunner& runner, const std::string& model, const std::string& what, size_t items,
                  size_t batch, size_t max_in_flight, StageTimes times,
                  const std::function<Tensor(size_t begin, size_t count)>& make,
                  const std::function<Status(size_t begin, size_t count, const Tensor& output)>& take) {
  struct InFlight {
    size_t begin, count;
    std::future<StatusOr<std::vector<Tensor>>> result;
  };
  std::deque<InFlight> in_flight;
  auto finish = [&](InFlight& b) -> Status {
    auto t = Clock::now();
    auto out = b.result.get();
    AddSince(times.wait_ns, t);
    if (!out.ok()) return out.status().WithContext(what);
    if (out->empty()) return Internal(what + ": no output");
    RETURN_IF_ERROR(take(b.begin, b.count, out->front()));
    AddSince(times.post_ns, t);
    return Status::Ok();
  };
  for (size_t begin = 0; begin < items; begin += batch) {
    auto t = Clock::now();
    const size_t count = std::min(batch, items - begin);
    Tensor x = make(begin, count);
    AddSince(times.pre_ns, t);
    in_flight.push_back({begin, count, runner.RunAsync(model, {std::move(x)}, {})});
    if (in_flight.size() >= max_in_flight) {
      RETURN_IF_ERROR(finish(in_flight.front()));
      in_flight.pop_front();
    }
  }
  for (; !in_flight.empty(); in_flight.pop_front()) RETURN_IF_ERROR(finish(in_flight.front()));
  return Status::Ok();
}

// A window of a strip that the direction classifier reads.
struct ClsWindow {
  size_t strip;
  int x;  // first column; the window is min(width, 192) columns
};

// The classifier's inputs: one per strip that fits its 192 columns (at the strip's own scale, as
// PaddleOCR does), and up to three unsqueezed 192-column windows (start, middle, end) of a wider
// strip, whose answers are averaged. PaddleOCR squeezes a wide strip into 192 columns; for long
// lines the squeezed text is illegible and the classifier then often says 180° with high
// confidence, turning a good line upside down (a third of the lines over ~35 characters in
// tests/tasks/ocr came back as nonsense that way).
std::vector<ClsWindow> ClsWindows(const std::vector<int>& widths) {
  std::vector<ClsWindow> windows;
  for (size_t i = 0; i < widths.size(); ++i) {
    const int w = widths[i];
    windows.push_back({i, 0});
    if (w <= kClsWidth) continue;
    if (w > 2 * kClsWidth) windows.push_back({i, (w - kClsWidth) / 2});
    windows.push_back({i, w - kClsWidth});
  }
  return windows;
}

// Writes a window of `src` into the classifier's CHW input at `dst`.
void WriteClsWindow(const image::Image& src, int window_x, float* dst) {
  if (src.height == kClsHeight && src.width <= kClsWidth) {
    image::WriteChw(src, kLineNorm, dst, kClsHeight, kClsWidth);
  } else if (src.height == kClsHeight) {
    image::WriteChw(image::Crop(src, window_x, 0, kClsWidth, kClsHeight), kLineNorm, dst, kClsHeight,
                    kClsWidth);
  } else {  // strips of another height (rec_image_height != 48): scaled to the classifier's
    const double scale = static_cast<double>(kClsHeight) / src.height;
    const int w = std::clamp(static_cast<int>(std::ceil(src.width * scale)), 1, kClsWidth);
    const int x = static_cast<int>(window_x * scale);
    image::Image scaled =
        image::Resize(src, std::max(1, static_cast<int>(std::ceil(src.width * scale))), kClsHeight);
    image::WriteChw(image::Crop(scaled, std::min(x, scaled.width - w), 0, w, kClsHeight), kLineNorm, dst,
                    kClsHeight, kClsWidth);
  }
}

}  // namespace

Status OcrTask::Classify(std::vector<Strip>& strips, ModelRunner& runner) const {
  const OcrSettings& s = settings_;
  const std::string what = "ocr: direction classifier '" + s.cls_model + "'";
  auto t = Clock::now();
  std::vector<int> widths;
  for (const Strip& strip : strips) widths.push_back(strip.img.width);
  const std::vector<ClsWindow> windows = ClsWindows(widths);
  std::vector<double> p180(strips.size(), 0), p0(strips.size(), 0);
  std::vector<int> votes(strips.size(), 0);
  AddSince(timings_.cls_pre_ns, t);

  const size_t per = static_cast<size_t>(kClsHeight) * kClsWidth * 3;
  auto make = [&](size_t begin, size_t count) {
    std::vector<float> data(per * count, 0.f);
    for (size_t i = 0; i < count; ++i) {
      const ClsWindow& win = windows[begin + i];
      WriteClsWindow(strips[win.strip].img, win.x, data.data() + per * i);
    }
    return MakeTensor({static_cast<int64_t>(count), 3, kClsHeight, kClsWidth}, data);
  };
  auto take = [&](size_t begin, size_t count, const Tensor& probs) -> Status {
    if (probs.shape.size() != 2 || probs.shape[0] != static_cast<int64_t>(count) || probs.shape[1] < 2) {
      return Internal(what + ": output shape " + ShapeToString(probs.shape) + ", expected [" +
                      std::to_string(count) + ", 2]");
    }
    ASSIGN_OR_RETURN(std::vector<float> p, Floats(probs, what));
    const size_t classes = static_cast<size_t>(probs.shape[1]);
    for (size_t i = 0; i < count; ++i) {
      const float* row = p.data() + i * classes;
      const size_t strip = windows[begin + i].strip;
      p0[strip] += row[0];
      p180[strip] += row[1];
      ++votes[strip];
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(RunBatches(runner, s.cls_model, what, windows.size(), static_cast<size_t>(s.cls_batch),
                             static_cast<size_t>(s.max_batches_in_flight),
                             {timings_.cls_pre_ns, timings_.cls_wait_ns, timings_.cls_post_ns}, make, take));

  t = Clock::now();
  for (size_t i = 0; i < strips.size(); ++i) {
    if (votes[i] == 0) continue;
    const double up = p0[i] / votes[i], down = p180[i] / votes[i];
    if (down > up && down > s.cls_thresh) strips[i].img = image::Rotate180(strips[i].img);
  }
  AddSince(timings_.cls_post_ns, t);
  return Status::Ok();
}

Status OcrTask::RecognizeStrips(std::vector<Strip>& strips, ModelRunner& runner) const {
  const OcrSettings& s = settings_;
  const std::string what = "ocr: text recognition model '" + s.rec_model + "'";
  // Similar widths together, so little of each batch is padding.
  std::vector<size_t> order(strips.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return strips[a].img.width < strips[b].img.width; });
  const int h = s.rec_height;
  auto make = [&](size_t begin, size_t count) {
    int width = s.rec_min_width;
    for (size_t i = 0; i < count; ++i) width = std::max(width, strips[order[begin + i]].img.width);
    const size_t per = static_cast<size_t>(h) * width * 3;
    std::vector<float> data(per * count, 0.f);
    for (size_t i = 0; i < count; ++i) {
      image::WriteChw(strips[order[begin + i]].img, kLineNorm, data.data() + per * i, h, width);
    }
    return MakeTensor({static_cast<int64_t>(count), 3, h, width}, data);
  };
  auto take = [&](size_t begin, size_t count, const Tensor& probs) -> Status {
    if (probs.shape.size() != 3 || probs.shape[0] != static_cast<int64_t>(count) || probs.shape[1] < 1) {
      return Internal(what + ": output shape " + ShapeToString(probs.shape) + ", expected [" +
                      std::to_string(count) + ", steps, classes]");
    }
    const int64_t steps = probs.shape[1], classes = probs.shape[2];
    const auto k = static_cast<int64_t>(keys_.size());
    if (classes != k + 1 && classes != k + 2) return ClassTable(keys_, classes).status().WithContext(what);
    const std::vector<std::string>& table = classes == k + 2 ? classes_with_space_ : classes_;
    ASSIGN_OR_RETURN(std::vector<float> p, Floats(probs, what));
    for (size_t i = 0; i < count; ++i) {
      CtcText text = CtcGreedyDecode(p.data() + i * static_cast<size_t>(steps * classes), steps, classes,
                                     table, s.space_score);
      Strip& strip = strips[order[begin + i]];
      strip.text = s.ascii_punctuation ? FoldFullwidthInLatinText(text.text) : std::move(text.text);
      strip.confidence = text.confidence;
    }
    return Status::Ok();
  };
  return RunBatches(runner, s.rec_model, what, order.size(), static_cast<size_t>(s.rec_batch),
                    static_cast<size_t>(s.max_batches_in_flight),
                    {timings_.rec_pre_ns, timings_.rec_wait_ns, timings_.rec_post_ns}, make, take);
}

std::string OcrResultJson(const std::vector<OcrLine>& lines) {
  std::string out, all;
  JsonWriter w(&out);
  w.BeginObject().Key("lines").BeginArray();
  for (const OcrLine& line : lines) {
    w.BeginObject().Key("text").String(line.text).Key("confidence").Float(line.confidence);
    w.Key("box").BeginArray();
    for (const PointF& p : line.box) {
      w.BeginArray().Int(std::lround(p.x)).Int(std::lround(p.y)).EndArray();
    }
    w.EndArray().EndObject();
    if (!all.empty()) all += '\n';
    all += line.text;
  }
  w.EndArray().Key("text").String(all).EndObject();
  return out;
}

std::string OcrTask::InputSchema() const { return ImageRequestSchema(); }

std::string OcrTask::OutputSchema() const {
  return R"J({"type":"object","contentType":"application/json","properties":{)J"
         R"J("lines":{"type":"array","description":"Text lines in reading order","items":{"type":"object","properties":{)J"
         R"J("text":{"type":"string"},)J"
         R"J("confidence":{"type":"number","description":"Mean probability of the line's characters (0-1)"},)J"
         R"J("box":{"type":"array","description":"Corners clockwise from the top-left, in image pixels",)J"
         R"J("items":{"type":"array","items":{"type":"number"},"minItems":2,"maxItems":2},"minItems":4,"maxItems":4}},)J"
         R"J("required":["text","confidence","box"]}},)J"
         R"J("text":{"type":"string","description":"All lines joined by newlines"}},"required":["lines","text"]})J";
}

}  // namespace continuum::tasks::ocr

namespace continuum::tasks {

void RegisterOcrTask(TaskRegistry& registry) { registry.Register<ocr::OcrTask>("ocr"); }

}  // namespace continuum::tasks
