#include "tasks/ocr/ctc.h"

#include "tasks/settings.h"

namespace continuum::tasks::ocr {

StatusOr<std::vector<std::string>> LoadKeys(const std::filesystem::path& path) {
  return ReadAssetLines(path, "keys file", 1);
}

StatusOr<std::vector<std::string>> ClassTable(const std::vector<std::string>& keys, int64_t num_classes) {
  const int64_t k = static_cast<int64_t>(keys.size());
  if (num_classes != k + 1 && num_classes != k + 2) {
    return Internal("the recognizer has " + std::to_string(num_classes) + " classes but the keys file has " +
                    std::to_string(k) + " keys (expected blank + keys [+ space] = " + std::to_string(k + 1) +
                    " or " + std::to_string(k + 2) + ")");
  }
  std::vector<std::string> table;
  table.reserve(static_cast<size_t>(num_classes));
  table.emplace_back();  // blank
  table.insert(table.end(), keys.begin(), keys.end());
  if (num_classes == k + 2) table.emplace_back(" ");
  return table;
}

CtcText CtcGreedyDecode(const float* probs, int64_t steps, int64_t classes,
                        const std::vector<std::string>& table, float space_score) {
  CtcText out;
  const auto n = static_cast<int64_t>(table.size());
  const int64_t space = space_score > 0 && n == classes && n > 1 && table.back() == " " ? n - 1 : -1;
  auto ascii = [](const std::string& s) { return s.size() == 1 && static_cast<unsigned char>(s[0]) < 0x80; };
  double sum = 0;
  int kept = 0;
  int64_t prev = -1;
  int64_t last = -1;     // the last class emitted
  double gap_space = 0;  // the space class's probability summed over blank steps since then
  for (int64_t t = 0; t < steps; ++t) {
    const float* row = probs + t * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (row[c] > row[best]) best = c;
    }
    if (best == 0) {
      if (space >= 0) gap_space += row[space];
    } else if (best != prev && best < n) {
      const std::string& s = table[static_cast<size_t>(best)];
      if (space >= 0 && best != space && last > 0 && last != space && gap_space >= space_score &&
          (ascii(s) || ascii(table[static_cast<size_t>(last)]))) {
        out.text += ' ';
      }
      out.text += s;
      sum += row[best];
      ++kept;
      last = best;
      gap_space = 0;
    }
    prev = best;
  }
  out.confidence = kept ? static_cast<float>(sum / kept) : 0.f;
  return out;
}

namespace {

// Decodes one UTF-8 code point at s[i] (advancing i); invalid bytes come back as themselves.
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (len == 1 || i + static_cast<size_t>(len) > s.size()) {
    ++i;
    return b;
  }
  uint32_t cp = b & (0x7F >> len);
  for (int k = 1; k < len; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
  i += static_cast<size_t>(len);
  return cp;
}

bool IsCjk(uint32_t cp) {
  return (cp >= 0x2E80 && cp <= 0x2FFF) || (cp >= 0x3040 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7AF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || cp >= 0x20000;
}

}  // namespace

std::string FoldFullwidthInLatinText(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (IsCjk(NextCodePoint(text, i))) return std::string(text);
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    const uint32_t cp = NextCodePoint(text, i);
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
      out += static_cast<char>(cp - 0xFF01 + 0x21);
    } else if (cp == 0x3000) {
      out += ' ';
    } else if (cp == 0x3001) {
      out += ',';
    } else if (cp == 0x3002) {
      out += '.';
    } else {
      out.append(text.substr(start, i - start));
    }
  }
  return out;
}

}  // namespace continuum::tasks::ocr
