// Task kind "image-classification": an image in, the top labels with their probabilities out
// (Workers AI's shape, as for @cf/microsoft/resnet-50).
//
//   request  TaskRequest.binary: the image (PNG or JPEG); numbers: top_k (default: settings.top_k)
//   result   [{"label":"tabby cat","score":0.92}, ...]   (highest score first, top_k entries)
//
// Catalog entry: models {"model": "<repository model>"}; settings:
//   labels        (required) class names, one per line, beside catalog.json; as many as the
//                 model has outputs
//   resize_short  256    the short side is resized to this (aspect kept, averaged when shrinking)
//   crop          224    then the centre crop × crop is taken
//   mean, std     ImageNet's [0.485,0.456,0.406], [0.229,0.224,0.225] (on pixel / 255)
//   bgr           false  channel order of the input tensor
//   input         "pixel_values"   the graph's input name
//   output        ""     the output to read (default: the first)
//   softmax       true   false when the model already outputs probabilities
//   top_k         5
//
// Model contract: input FP32 [1, 3, crop, crop] (NCHW), output [1, classes] or [classes].
//
// Thread-safety: immutable after Create.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tasks/image/image.h"
#include "tasks/task.h"

namespace continuum::tasks::vision {

struct ClassifySettings {
  std::string model;
  std::filesystem::path labels;
  int resize_short = 256;
  int crop = 224;
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
  bool bgr = false;
  std::string input = "pixel_values";
  std::string output;
  bool softmax = true;
  int top_k = 5;
};

StatusOr<ClassifySettings> ParseClassifySettings(const CatalogEntry& entry);

// Pre-processing: resize the short side, centre crop (torchvision's Resize + CenterCrop).
image::Image ResizeAndCrop(const image::Image& img, int resize_short, int crop);

struct Scored {
  std::string label;
  float score = 0;
};
// The k best of `values` (probabilities, or logits turned into them when softmax), best first;
// ties keep the lower index first.
std::vector<Scored> TopK(const std::vector<float>& values, const std::vector<std::string>& labels, int k,
                         bool softmax);

class ImageClassificationTask final : public Task {
 public:
  static StatusOr<std::unique_ptr<ImageClassificationTask>> Create(const CatalogEntry& entry,
                                                                   const TaskLimits& limits);
  StatusOr<TaskResult> Run(const TaskRequest& request, ModelRunner& runner) const override;
  std::string InputSchema() const override;
  std::string OutputSchema() const override;

  const ClassifySettings& settings() const { return settings_; }

 private:
  ImageClassificationTask(ClassifySettings settings, std::vector<std::string> labels, TaskLimits limits)
      : settings_(std::move(settings)), labels_(std::move(labels)), limits_(limits) {}

  ClassifySettings settings_;
  std::vector<std::string> labels_;
  TaskLimits limits_;
};

}  // namespace continuum::tasks::vision
