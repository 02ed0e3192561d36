// Differentiable-Binarization post-processing: from the text detector's probability map to
// text boxes, as PaddleOCR's DBPostProcess does it (binarize, one region per connected
// component, minimum-area rectangle, mean-probability score, unclip, rescale), followed by
// its box filtering and reading-order sort.
//
// Pure functions (thread-safe), exposed one by one for tests.
#pragma once

#include <cstdint>
#include <vector>

#include "tasks/image/image.h"

namespace continuum::tasks::ocr {

using image::PointF;
using image::Quad;

struct DbParams {
  float thresh = 0.3f;        // probability above which a pixel is text
  float box_thresh = 0.6f;    // minimum mean probability inside a box
  float unclip_ratio = 1.5f;  // how far a box grows: area * ratio / perimeter on each side
  int max_candidates = 1000;  // connected components examined at most
  int min_size = 3;           // boxes with a shorter side (in map pixels) are dropped
};

struct TextBox {
  Quad quad;  // clockwise from the top-left corner
  float score = 0;
};

// Boxes found in a [h, w] probability map, in the coordinates of an image of
// dest_w × dest_h (the map is scaled to it), filtered and in reading order.
std::vector<TextBox> DbBoxes(const float* prob, int h, int w, int dest_w, int dest_h, const DbParams& params);

// ---- The steps, for tests ----------------------------------------------------------------------

// Outer boundary samples (leftmost and rightmost pixel of every row) of each 8-connected
// component of `mask` ([h, w], non-zero = set), at most `max_components` of them, in raster
// order of their first pixel.
std::vector<std::vector<PointF>> ComponentOutlines(const std::vector<uint8_t>& mask, int h, int w,
                                                   int max_components);

std::vector<PointF> ConvexHull(std::vector<PointF> points);

// Minimum-area enclosing rectangle of the points, ordered as PaddleOCR's get_mini_boxes does
// (the two left-most corners first: top-left; the two right-most: top-right, bottom-right).
// *short_side gets the rectangle's shorter side.
Quad MinAreaRect(const std::vector<PointF>& points, float* short_side);

// Mean of `prob` over the pixels inside the quad (PaddleOCR's box_score_fast).
float BoxScore(const float* prob, int h, int w, const Quad& quad);

// Offsets a convex quad outward by area * ratio / perimeter (exact for rectangles, where it is
// what a round-joined polygon offset's bounding rectangle gives).
Quad Unclip(const Quad& quad, float ratio);

// PaddleOCR's order_points_clockwise: top-left = min(x+y), bottom-right = max(x+y), then the
// others by y-x.
Quad OrderClockwise(const Quad& quad);

// Top-to-bottom, then left-to-right for boxes whose tops are within 10 pixels (PaddleOCR's
// sorted_boxes, including its one-pass bubble correction).
void SortReadingOrder(std::vector<TextBox>& boxes);

}  // namespace continuum::tasks::ocr
