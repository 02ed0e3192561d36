#include "tasks/vision/classify_task.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "tasks/builtin.h"
#include "tasks/image/decode.h"
#include "tasks/settings.h"

namespace continuum::tasks::vision {

namespace {

StatusOr<std::array<float, 3>> Triple(const config::Reader& r, config::Element v, std::string_view key,
                                      bool positive) {
  config::Array a;
  if (v.get_array().get(a) || a.size() != 3) return r.Err(key, "expected an array of 3 numbers");
  std::array<float, 3> out{};
  size_t i = 0;
  for (auto x : a) {
    double d;
    if (x.get_double().get(d) || !std::isfinite(d) || (positive && d <= 0)) {
      return r.Err(key, positive ? "expected 3 positive numbers" : "expected 3 numbers");
    }
    out[i++] = static_cast<float>(d);
  }
  return out;
}

StatusOr<std::vector<std::string>> LoadLabels(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> labels, ReadAssetLines(path, "labels file", 4));
  while (!labels.empty() && labels.back().empty()) labels.pop_back();  // trailing blank lines
  if (labels.empty()) return InvalidArgument("labels file " + path.string() + ": empty");
  return labels;
}

}  // namespace

StatusOr<ClassifySettings> ParseClassifySettings(const CatalogEntry& entry) {
  ClassifySettings s;
  for (const auto& [role, model] : entry.models) {
    if (role != "model")
      return InvalidArgument("models." + role + ": unknown role (image-classification uses model)");
    s.model = model;
  }
  if (s.model.empty()) return InvalidArgument("models.model: required (the classifier)");
  config::Reader r("settings.");
  config::Object o;
  RETURN_IF_ERROR(r.Parse(entry.settings_json, &o));
  for (auto [key, v] : o) {
    if (key == "labels") {
      ASSIGN_OR_RETURN(s.labels, AssetSetting(entry, r, v, key));
    } else if (key == "resize_short") {
      ASSIGN_OR_RETURN(s.resize_short, r.Int(v, key, 1, 4096));
    } else if (key == "crop") {
      ASSIGN_OR_RETURN(s.crop, r.Int(v, key, 1, 4096));
    } else if (key == "mean") {
      ASSIGN_OR_RETURN(s.mean, Triple(r, v, key, false));
    } else if (key == "std") {
      ASSIGN_OR_RETURN(s.std, Triple(r, v, key, true));
    } else if (key == "bgr") {
      ASSIGN_OR_RETURN(s.bgr, r.Bool(v, key));
    } else if (key == "softmax") {
      ASSIGN_OR_RETURN(s.softmax, r.Bool(v, key));
    } else if (key == "input" || key == "output") {
      std::string_view name;
      if (v.get_string().get(name) || (key == "input" && name.empty()))
        return r.Err(key, "expected a tensor name");
      (key == "input" ? s.input : s.output) = std::string(name);
    } else if (key == "top_k") {
      ASSIGN_OR_RETURN(s.top_k, r.Int(v, key, 1, 100000));
    } else {
      return r.Err(
          key, "unknown (known: labels, resize_short, crop, mean, std, bgr, input, output, softmax, top_k)");
    }
  }
  if (s.labels.empty()) return r.Err("labels", "required (class names, one per line)");
  if (s.crop > s.resize_short) return r.Err("crop", "exceeds resize_short");
  return s;
}

image::Image ResizeAndCrop(const image::Image& img, int resize_short, int crop) {
  int w, h;
  if (img.width <= img.height) {
    w = resize_short;
    h = std::max(resize_short, static_cast<int>(static_cast<int64_t>(resize_short) * img.height / img.width));
  } else {
    h = resize_short;
    w = std::max(resize_short, static_cast<int>(static_cast<int64_t>(resize_short) * img.width / img.height));
  }
  image::Image resized = image::ResizeAntialiased(img, w, h);
  const int top = static_cast<int>(std::lround((h - crop) / 2.0));
  const int left = static_cast<int>(std::lround((w - crop) / 2.0));
  return image::Crop(resized, left, top, crop, crop);
}

std::vector<Scored> TopK(const std::vector<float>& values, const std::vector<std::string>& labels, int k,
                         bool softmax) {
  std::vector<float> p = values;
  if (softmax && !p.empty()) {
    const float max = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (float& x : p) {
      x = std::exp(x - max);
      sum += x;
    }
    for (float& x : p) x = static_cast<float>(x / sum);
  }
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t n = std::min(order.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                    [&](size_t a, size_t b) {
                      // NaN sorts last; ties keep the lower index first.
                      const bool na = std::isnan(p[a]), nb = std::isnan(p[b]);
                      if (na != nb) return nb;
                      return p[a] > p[b] || (!(p[b] > p[a]) && a < b);
                    });
  std::vector<Scored> out;
  for (size_t i = 0; i < n; ++i) out.push_back({labels.at(order[i]), p[order[i]]});
  return out;
}

StatusOr<std::unique_ptr<ImageClassificationTask>> ImageClassificationTask::Create(const CatalogEntry& entry,
                                                                                   const TaskLimits& limits) {
  ASSIGN_OR_RETURN(ClassifySettings s, ParseClassifySettings(entry));
  ASSIGN_OR_RETURN(std::vector<std::string> labels, LoadLabels(s.labels));
  return std::unique_ptr<ImageClassificationTask>(
      new ImageClassificationTask(std::move(s), std::move(labels), limits));
}

StatusOr<TaskResult> ImageClassificationTask::Run(const TaskRequest& request, ModelRunner& runner) const {
  const ClassifySettings& s = settings_;
  if (request.binary.empty()) {
    return InvalidArgument(
        "image-classification: no image: send a PNG or JPEG as the request body or in \"image\"");
  }
  int top_k = s.top_k;
  if (auto it = request.numbers.find("top_k"); it != request.numbers.end()) {
    const double k = it->second;
    if (!(k >= 1) || k != std::floor(k)) return InvalidArgument("top_k: expected a positive integer");
    top_k = static_cast<int>(std::min<double>(k, static_cast<double>(labels_.size())));
  }
  ASSIGN_OR_RETURN(image::Image img,
                   image::Decode(request.binary, {limits_.max_image_pixels, limits_.max_image_bytes}));
  const image::Image input = ResizeAndCrop(img, s.resize_short, s.crop);
  const std::vector<float> chw = image::ToChw(input, {s.mean, s.std, 1.f / 255.f, s.bgr});
  Tensor x{s.input, DataType::kFp32, {1, 3, s.crop, s.crop}, {}};
  x.data.assign(reinterpret_cast<const char*>(chw.data()), chw.size() * sizeof(float));

  std::vector<std::string> outputs;
  if (!s.output.empty()) outputs.push_back(s.output);
  auto out = runner.Run(s.model, {std::move(x)}, outputs);
  const std::string what = "image-classification: model '" + s.model + "'";
  if (!out.ok()) return out.status().WithContext(what);
  if (out->empty()) return Internal(what + ": no output");
  const Tensor& logits = out->front();
  if (logits.dtype != DataType::kFp32) {
    return Internal(what + ": output '" + logits.name + "' is " + std::string(DataTypeName(logits.dtype)) +
                    ", expected FP32");
  }
  const int64_t n = logits.NumElements();
  if (n != static_cast<int64_t>(labels_.size())) {
    return Internal(what + ": output '" + logits.name + "' " + ShapeToString(logits.shape) + " has " +
                    std::to_string(n) + " values but the labels file has " + std::to_string(labels_.size()) +
                    " labels");
  }
  std::vector<float> values(static_cast<size_t>(n));
  std::memcpy(values.data(), logits.data.data(), values.size() * sizeof(float));

  TaskResult result;
  JsonWriter w(&result.result_json);
  w.BeginArray();
  for (const Scored& sc : TopK(values, labels_, top_k, s.softmax)) {
    w.BeginObject().Key("label").String(sc.label).Key("score").Float(sc.score).EndObject();
  }
  w.EndArray();
  return result;
}

std::string ImageClassificationTask::InputSchema() const {
  return ImageRequestSchema(
      R"J("top_k":{"type":"integer","minimum":1,"description":"How many labels to return"})J");
}

std::string ImageClassificationTask::OutputSchema() const {
  return R"J({"type":"array","contentType":"application/json","description":"Labels, most probable first",)J"
         R"J("items":{"type":"object","properties":{"label":{"type":"string"},)J"
         R"J("score":{"type":"number","description":"Probability (0-1)"}},"required":["label","score"]}})J";
}

}  // namespace continuum::tasks::vision

namespace continuum::tasks {

void RegisterImageClassificationTask(TaskRegistry& registry) {
  registry.Register<vision::ImageClassificationTask>("image-classification");
}

}  // namespace continuum::tasks
