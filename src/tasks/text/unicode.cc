#include "tasks/text/unicode.h"

#include <algorithm>
#include <array>
#include <unordered_map>

namespace continuum::tasks::text {
namespace {

struct LowerRun {
  uint32_t first;
  int32_t count;
  int32_t stride;
  int32_t delta;
};
struct Decomposition {
  uint32_t cp;
  uint32_t first;
  uint32_t second;  // low 21 bits: the code point (0: none); kComposes: NFC recomposes the pair
};
constexpr uint32_t kComposes = 1u << 24;

#include "tasks/text/unicode_tables.inc"

// Hangul syllables (Unicode chapter 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

const Decomposition* FindDecomposition(char32_t c) {
  auto it = std::lower_bound(std::begin(kDecompositions), std::end(kDecompositions), c,
                             [](const Decomposition& d, char32_t v) { return d.cp < v; });
  return it != std::end(kDecompositions) && it->cp == c ? &*it : nullptr;
}

void AppendDecomposed(char32_t c, std::u32string* out, int depth = 0) {
  if (c >= kSBase && c < kSBase + kSCount) {
    int s = static_cast<int>(c - kSBase);
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = depth < 8 ? FindDecomposition(c) : nullptr;
  if (!d) {
    out->push_back(c);
    return;
  }
  AppendDecomposed(d->first, out, depth + 1);
  if (char32_t second = d->second & 0x1FFFFF) AppendDecomposed(second, out, depth + 1);
}

const std::unordered_map<uint64_t, char32_t>& Compositions() {
  static const auto* map = [] {
    auto* m = new std::unordered_map<uint64_t, char32_t>();
    for (const auto& d : kDecompositions) {
      if (d.second & kComposes) m->emplace(uint64_t{d.first} << 32 | (d.second & 0x1FFFFF), d.cp);
    }
    return m;
  }();
  return *map;
}

// Composes (a, b) into one code point, or returns 0.
char32_t Compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto& m = Compositions();
  auto it = m.find(uint64_t{a} << 32 | b);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

CharClass Classify(char32_t c) {
  static constexpr auto kAscii = [] {  // the fast path for ASCII, same answers as the table
    std::array<CharClass, 128> t{};
    for (int i = 0; i < 128; ++i) {
      if (i < 0x20 || i == 0x7F) {
        t[i] = CharClass::kControl;
      } else if (i == ' ') {
        t[i] = CharClass::kSeparator;
      } else if (i >= '0' && i <= '9') {
        t[i] = CharClass::kDecimalNumber;
      } else if ((i >= 'A' && i <= 'Z') || (i >= 'a' && i <= 'z')) {
        t[i] = CharClass::kLetter;
      } else if (i == '_') {
        t[i] = CharClass::kConnectorPunct;
      } else if (i == '$' || i == '+' || i == '<' || i == '=' || i == '>' || i == '^' || i == '`' ||
                 i == '|' || i == '~') {
        t[i] = CharClass::kSymbol;
      } else {
        t[i] = CharClass::kPunctuation;
      }
    }
    return t;
  }();
  if (c < 128) return kAscii[c];
  if (c > 0x10FFFF) return CharClass::kOther;
  uint32_t key = static_cast<uint32_t>(c) << 4 | 0xF;
  auto it = std::upper_bound(std::begin(kClassRuns), std::end(kClassRuns), key);
  return static_cast<CharClass>(*(it - 1) & 0xF);
}

bool IsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool IsBertPunctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  return IsPunctuation(c);
}

bool IsBertControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  auto k = Classify(c);
  return k == CharClass::kControl || k == CharClass::kFormat || k == CharClass::kOther;
}

bool IsCjkIdeograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsWordChar(char32_t c) {
  if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9)) return true;  // Join_Control; Ⓐ..ⓩ
  auto k = Classify(c);
  return k == CharClass::kLetter || k == CharClass::kMarkNonspacing || k == CharClass::kMarkOther ||
         k == CharClass::kDecimalNumber || k == CharClass::kLetterNumber || k == CharClass::kConnectorPunct;
}

void AppendLower(char32_t c, std::u32string* out) {
  if (c < 0x80) {
    out->push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE
    out->push_back('i');
    out->push_back(0x307);
    return;
  }
  auto it = std::upper_bound(std::begin(kLowerRuns), std::end(kLowerRuns), static_cast<uint32_t>(c),
                             [](uint32_t v, const LowerRun& r) { return v < r.first; });
  if (it != std::begin(kLowerRuns)) {
    const LowerRun& r = *(it - 1);
    uint32_t off = static_cast<uint32_t>(c) - r.first;
    if (off % r.stride == 0 && off / r.stride < static_cast<uint32_t>(r.count)) {
      out->push_back(static_cast<char32_t>(static_cast<int64_t>(c) + r.delta));
      return;
    }
  }
  out->push_back(c);
}

std::u32string Lowercase(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendLower(c, &out);
  return out;
}

std::u32string Nfd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size() + s.size() / 4);
  for (char32_t c : s) {
    if (c < 0xC0) {
      out.push_back(c);
    } else {
      AppendDecomposed(c, &out);
    }
  }
  return out;
}

std::u32string Nfc(std::u32string_view s) {
  std::u32string d = Nfd(s);
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;  // index in out of the last starter
  for (char32_t c : d) {
    bool mark = IsMark(c);
    if (starter != std::u32string::npos) {
      // A mark may reach back over other marks; a non-mark only combines with its neighbour.
      bool adjacent = starter + 1 == out.size();
      if (adjacent || mark) {
        if (char32_t comp = Compose(out[starter], c)) {
          out[starter] = comp;
          continue;
        }
      }
    }
    out.push_back(c);
    if (!mark) starter = out.size() - 1;
  }
  return out;
}

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0, n = s.size();
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  while (i < n) {
    uint8_t b = byte(i);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int len = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? (b <= 0xEF ? 3 : 0) : b >= 0xC2 ? 2 : 0;
    char32_t c = len == 2 ? b & 0x1F : len == 3 ? b & 0x0F : b & 0x07;
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      uint8_t cb = byte(i + k);
      if ((cb & 0xC0) != 0x80) ok = false;
      c = (c << 6) | (cb & 0x3F);
    }
    if (ok && ((len == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
               (len == 4 && (c < 0x10000 || c > 0x10FFFF)))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;  // resynchronise on the next byte
      while (i < n && (byte(i) & 0xC0) == 0x80) ++i;
      continue;
    }
    out.push_back(c);
    i += len;
  }
  return out;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(c, &out);
  return out;
}

}  // namespace continuum::tasks::text
