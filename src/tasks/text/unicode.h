// The Unicode the text tokenizers need, without ICU: UTF-8 decoding, general categories
// (coarsened), White_Space, simple lowercase, canonical decomposition (NFD) and composition
// (NFC). Data from unicode_tables.inc (gen_unicode_tables.py, Unicode 14.0), Hangul
// algorithmically.
//
// Not covered: canonical reordering of combining marks (NFD here keeps marks in input order,
// which matches for text whose marks are already in canonical order, i.e. nearly all text),
// compatibility decompositions (NFKD/NFKC), and special casing beyond U+0130.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace continuum::tasks::text {

enum class CharClass : uint8_t {
  kLetter = 0,          // L*
  kMarkNonspacing = 1,  // Mn
  kMarkOther = 2,       // Mc, Me
  kDecimalNumber = 3,   // Nd
  kLetterNumber = 4,    // Nl
  kOtherNumber = 5,     // No
  kConnectorPunct = 6,  // Pc
  kPunctuation = 7,     // Pd, Ps, Pe, Pi, Pf, Po
  kSymbol = 8,          // S*
  kSeparator = 9,       // Z*
  kControl = 10,        // Cc
  kFormat = 11,         // Cf
  kOther = 12,          // Co, Cn, Cs
};

CharClass Classify(char32_t c);
inline bool IsLetter(char32_t c) { return Classify(c) == CharClass::kLetter; }
inline bool IsMark(char32_t c) {
  auto k = Classify(c);
  return k == CharClass::kMarkNonspacing || k == CharClass::kMarkOther;
}
inline bool IsNumber(char32_t c) {
  auto k = Classify(c);
  return k == CharClass::kDecimalNumber || k == CharClass::kLetterNumber || k == CharClass::kOtherNumber;
}
inline bool IsPunctuation(char32_t c) {
  auto k = Classify(c);
  return k == CharClass::kPunctuation || k == CharClass::kConnectorPunct;
}
// The White_Space property (as Rust's char::is_whitespace, which Hugging Face uses).
bool IsWhitespace(char32_t c);
// BERT's notion: ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or any
// Unicode P* character.
bool IsBertPunctuation(char32_t c);
// BERT's "control" characters, removed by clean_text: Cc, Cf, Co, Cn except \t \n \r.
bool IsBertControl(char32_t c);
// The CJK Unified Ideographs blocks BERT isolates (not Hiragana, Katakana or Hangul).
bool IsCjkIdeograph(char32_t c);
// Regex \w as in Rust's regex crate (Alphabetic, M, Nd, Pc, Join_Control), approximated as
// L, M, Nd, Nl, Pc, Join_Control and the circled letters.
bool IsWordChar(char32_t c);

// Appends the lowercase of c (one code point, or two for U+0130).
void AppendLower(char32_t c, std::u32string* out);
std::u32string Lowercase(std::u32string_view s);
// Canonical decomposition (NFD) and composition (NFC); see the header comment for the limits.
std::u32string Nfd(std::u32string_view s);
std::u32string Nfc(std::u32string_view s);

// UTF-8 <-> code points. Invalid sequences (bad bytes, overlongs, surrogates) decode to U+FFFD.
std::u32string DecodeUtf8(std::string_view s);
void AppendUtf8(char32_t c, std::string* out);
std::string EncodeUtf8(std::u32string_view s);

}  // namespace continuum::tasks::text
