// Character sets and CTC greedy decoding for the text recognizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::tasks::ocr {

// Reads a PaddleOCR keys file: one character (UTF-8) per line; "\r\n" or "\n" line ends; a
// final newline does not add an empty key. Fails when missing, empty, or over 1 MiB.
StatusOr<std::vector<std::string>> LoadKeys(const std::filesystem::path& path);

// The recognizer's classes for `num_classes` outputs: index 0 is the CTC blank, then the keys,
// then a space when the model has one class more than blank + keys (PaddleOCR's
// use_space_char). Any other count is an error naming both numbers.
StatusOr<std::vector<std::string>> ClassTable(const std::vector<std::string>& keys, int64_t num_classes);

struct CtcText {
  std::string text;
  float confidence = 0;  // mean probability of the kept characters (0 when none)
};

// Greedy CTC over [steps, classes] probabilities (row-major): the best class per step, repeats
// collapsed, blanks (class 0) dropped. `table` comes from ClassTable.
//
// space_score > 0 (and a table with a space class) also recovers spaces the model leaves
// blank: when the space class's probability summed over the blank steps between two
// characters reaches space_score, a space is emitted there (not between two non-ASCII
// characters: CJK text has no spaces). PP-OCR's Chinese/English recognizers under-predict the
// space between English words; the blank steps of a real gap still give the space class a
// clearly raised probability (see tests/tasks/ocr).
CtcText CtcGreedyDecode(const float* probs, int64_t steps, int64_t classes,
                        const std::vector<std::string>& table, float space_score = 0);

// In text without CJK characters, full-width forms (U+FF01..U+FF5E) become their ASCII
// originals, the ideographic space U+3000 a space, and U+3001/U+3002 ',' and '.'. A Chinese
// recognizer reading Latin text sometimes answers "（415）" for "(415)"; text with CJK
// characters in it is returned unchanged.
std::string FoldFullwidthInLatinText(std::string_view text);

}  // namespace continuum::tasks::ocr
