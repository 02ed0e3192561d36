// Text-line strips for the recognizer: the rectified crop of a detected box.
#pragma once

#include "tasks/image/image.h"
#include "tasks/ocr/db_postprocess.h"

namespace continuum::tasks::ocr {

// The box `q` (clockwise from the top-left) warped to a horizontal strip `height` pixels high,
// as wide as the box's aspect ratio says (at most max_width). Boxes at least 1.5 times taller
// than wide are turned a quarter counter-clockwise first (PaddleOCR's get_rotate_crop_image).
// PaddleOCR warps at the box's own size (bicubic) and then resizes (bilinear); one bicubic warp
// straight to the recognizer's height is sharper for small text and reads better (measured in
// tests/tasks/ocr: 96% exact lines against 88% for the two-step crop).
// A line wider than max_width is resized down to it (squeezed horizontally), never split.
image::Image CropStrip(const image::Image& img, Quad q, int height, int max_width);
// The width CropStrip gives the box, without cropping (what the recognizer will be sent).
int StripWidth(const Quad& q, int height, int max_width);

}  // namespace continuum::tasks::ocr
