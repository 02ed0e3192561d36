// Task kind "ocr": an image in, lines of text with their boxes out (PaddleOCR's PP-OCR
// pipeline: DB text detection, optional 0°/180° direction classifier, CTC text recognition).
//
//   request  TaskRequest.binary: the image (PNG or JPEG)
//   result   {"lines":[{"text":"...","confidence":0.98,"box":[[x,y],[x,y],[x,y],[x,y]]}],
//             "text":"all lines joined by \n"}   (boxes clockwise from the top-left, in pixels of
//            the decoded, EXIF-oriented image; lines in reading order)
//
// Catalog entry: models {"det", "rec", optional "cls"} (repository model names); settings:
//   keys               (required) character list beside catalog.json (ppocr_keys_v1.txt)
//   det_limit_side_len 960    det_limit_type "max" (shrink the long side to the limit),
//                      "min" (grow the short side to it) or "area" (shrink to at most limit²
//                      pixels: wide ribbons of text keep their resolution); det_max_side_len
//                      4096 (hard cap)
//   det_thresh 0.3, det_box_thresh 0.6, det_unclip_ratio 1.5, max_candidates 1000
//   use_cls true (when a cls model is given), cls_thresh 0.9, cls_batch 6
//   rec_batch 6, rec_image_height 48, rec_min_width 320, rec_max_width 3200 (a line wider than
//                      that is resized down to it, squeezed horizontally), drop_score 0.5
//   max_rec_pixels     16777216 (cost cap per request: the detected lines' recognizer input,
//                      rec_image_height × each line's width, summed; beyond it the request is
//                      refused with 413 naming the setting, before any line is cropped)
//   max_batches_in_flight 2 (cls and rec batches one request keeps queued at once; with
//                      rec_batch and rec_max_width it bounds the memory a request holds)
//   space_score 0 (off; > 0 recovers spaces the recognizer leaves blank, see ctc.h),
//   ascii_punctuation false (true: full-width forms become ASCII in lines without CJK)
//
// Model contracts (PP-OCRv4): det `x` [N,3,H,W] (H, W multiples of 32) -> [N,1,H,W] text
// probability; cls `x` [N,3,48,192] -> [N,2] (0°, 180°); rec `x` [N,3,48,W] -> [N,W/8,C] class
// probabilities, C = blank + keys (+ space). Input is BGR like PaddleOCR's cv2 pipeline.
//
// Recognition batches lines of similar width (sorted by aspect ratio, padded to the widest of
// each batch) and keeps several batches in flight through ModelRunner::RunAsync, so they also
// merge with other requests' batches in the scheduler.
//
// Where this departs from PaddleOCR's reference pipeline, measured on tests/tasks/ocr:
//   - lines are warped straight to the recognizer's height with bicubic sampling (PaddleOCR:
//     bicubic warp at the box's size, then a bilinear resize): sharper small text;
//   - lines wider than the classifier's 192 columns are classified on unsqueezed 192-column
//     windows whose answers are averaged (PaddleOCR squeezes the line into 192 columns, and the
//     classifier then turns many long lines upside down);
//   - optional space recovery and full-width folding (space_score, ascii_punctuation).
//
// Thread-safety: immutable after Create except the timing counters (atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tasks/image/image.h"
#include "tasks/ocr/db_postprocess.h"
#include "tasks/task.h"

namespace continuum::tasks::ocr {

struct OcrSettings {
  std::string det_model, cls_model, rec_model;  // cls_model empty: no direction classifier
  std::filesystem::path keys;
  DbParams db;
  enum class DetLimit { kMax, kMin, kArea };
  int det_limit_side_len = 960;
  DetLimit det_limit = DetLimit::kMax;
  int det_max_side_len = 4096;
  bool use_cls = true;                // run the direction classifier (when a cls model is given)
  float cls_thresh = 0.9f;            // a line turns when 180° wins with a mean probability above this
  int cls_batch = 6;                  // classifier windows per model request
  int rec_batch = 6;                  // lines per recognizer request
  int rec_height = 48;                // the recognizer's input height (settings.rec_image_height)
  int rec_min_width = 320;            // a recognizer batch is padded to at least this width
  int rec_max_width = 3200;           // a wider line is squeezed to this width
  int64_t max_rec_pixels = 16 << 20;  // Σ rec_height × line width per request; 413 beyond
  int max_batches_in_flight = 2;      // cls/rec batches queued at once per request
  float drop_score = 0.5f;
  float space_score = 0;           // > 0: recover spaces (see CtcGreedyDecode); 0: PaddleOCR's decoding
  bool ascii_punctuation = false;  // full-width forms to ASCII in lines without CJK
};

StatusOr<OcrSettings> ParseOcrSettings(const CatalogEntry& entry);

// The detector's input size for an image: limited as the settings say, each side rounded to a
// multiple of 32 (at least 32).
struct Size {
  int width = 0, height = 0;
};
Size DetInputSize(int width, int height, const OcrSettings& settings);

struct OcrLine {
  std::string text;
  float confidence = 0;
  Quad box;
};

// Cumulative time per stage over every Run (nanoseconds). "wait" is the time spent waiting on
// the ModelRunner (queue + inference); the rest is this task's own pre/post-processing.
struct OcrTimings {
  std::atomic<uint64_t> pages{0}, lines{0};
  std::atomic<uint64_t> decode_ns{0}, det_pre_ns{0}, det_wait_ns{0}, det_post_ns{0};
  std::atomic<uint64_t> crop_ns{0}, cls_pre_ns{0}, cls_wait_ns{0}, cls_post_ns{0};
  std::atomic<uint64_t> rec_pre_ns{0}, rec_wait_ns{0}, rec_post_ns{0};
};

class OcrTask final : public Task {
 public:
  static StatusOr<std::unique_ptr<OcrTask>> Create(const CatalogEntry& entry, const TaskLimits& limits);

  StatusOr<TaskResult> Run(const TaskRequest& request, ModelRunner& runner) const override;
  std::string InputSchema() const override;
  std::string OutputSchema() const override;

  // The pipeline on a decoded image.
  StatusOr<std::vector<OcrLine>> Recognize(const image::Image& img, ModelRunner& runner) const;

  const OcrSettings& settings() const { return settings_; }
  const OcrTimings& timings() const { return timings_; }

 private:
  OcrTask(OcrSettings settings, std::vector<std::string> keys, TaskLimits limits);
  struct Strip;
  Status Classify(std::vector<Strip>& strips, ModelRunner& runner) const;
  Status RecognizeStrips(std::vector<Strip>& strips, ModelRunner& runner) const;

  OcrSettings settings_;
  std::vector<std::string> keys_;
  std::vector<std::string> classes_, classes_with_space_;  // ClassTable for keys + 1 and + 2
  TaskLimits limits_;
  mutable OcrTimings timings_;
};

// The result JSON for recognized lines.
std::string OcrResultJson(const std::vector<OcrLine>& lines);

}  // namespace continuum::tasks::ocr
