// The tokenizer pipeline and its normalizers, pre-tokenizers and post-processors. Each follows
// the Hugging Face tokenizers component of the same name.
#include "tasks/text/tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <functional>
#include <utility>

#include "tasks/text/tokenizer_internal.h"
#include "tasks/text/unicode.h"

namespace continuum::tasks::text {
namespace {

// ---- normalizers ------------------------------------------------------------------------------

void StripMarks(std::u32string* s, bool nonspacing_only) {
  std::u32string d = Nfd(*s);
  std::erase_if(
      d, [&](char32_t c) { return nonspacing_only ? Classify(c) == CharClass::kMarkNonspacing : IsMark(c); });
  *s = std::move(d);
}

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& o) : o_(o) {}
  void Normalize(std::u32string* s) const override {
    std::u32string out;
    out.reserve(s->size());
    for (char32_t c : *s) {
      if (o_.clean_text) {
        if (c == 0 || c == 0xFFFD || IsBertControl(c)) continue;
        if (IsWhitespace(c)) c = ' ';
      }
      if (o_.handle_chinese_chars && IsCjkIdeograph(c)) {
        out.push_back(' ');
        out.push_back(c);
        out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
    if (o_.strip_accents.value_or(o_.lowercase)) StripMarks(&out, true);
    *s = o_.lowercase ? Lowercase(out) : std::move(out);
  }

 private:
  BertNormalizerOptions o_;
};

class FnNormalizer final : public Normalizer {
 public:
  explicit FnNormalizer(std::function<void(std::u32string*)> fn) : fn_(std::move(fn)) {}
  void Normalize(std::u32string* s) const override { fn_(s); }

 private:
  std::function<void(std::u32string*)> fn_;
};

// ---- pre-tokenizers ---------------------------------------------------------------------------

// How a splitting pre-tokenizer treats the characters it splits on.
enum class Behavior { kRemoved, kIsolated, kContiguous };

template <typename Pred>
void SplitPieces(std::vector<std::u32string>* pieces, Pred is_delim, Behavior behavior) {
  std::vector<std::u32string> out;
  for (const auto& p : *pieces) {
    std::u32string cur;
    for (size_t i = 0; i < p.size(); ++i) {
      char32_t c = p[i];
      if (!is_delim(c)) {
        cur.push_back(c);
        continue;
      }
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      if (behavior == Behavior::kIsolated) out.emplace_back(1, c);
      if (behavior == Behavior::kContiguous) {
        size_t j = i;
        while (j < p.size() && is_delim(p[j])) ++j;
        out.emplace_back(p.substr(i, j - i));
        i = j - 1;
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  *pieces = std::move(out);
}

class FnPreTokenizer final : public PreTokenizer {
 public:
  explicit FnPreTokenizer(std::function<void(std::vector<std::u32string>*)> fn) : fn_(std::move(fn)) {}
  void Split(std::vector<std::u32string>* pieces) const override { fn_(pieces); }

 private:
  std::function<void(std::vector<std::u32string>*)> fn_;
};

// GPT-2's pattern, by hand:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void SplitGpt2(const std::u32string& s, std::vector<std::u32string>* out) {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    if (s[i] == '\'' && i + 1 < n) {
      char32_t a = s[i + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        end = i + 2;
      } else if (i + 2 < n && ((a == 'r' && s[i + 2] == 'e') || (a == 'v' && s[i + 2] == 'e') ||
                               (a == 'l' && s[i + 2] == 'l'))) {
        end = i + 3;
      }
    }
    if (end == i) {
      size_t j = s[i] == ' ' && i + 1 < n && !IsWhitespace(s[i + 1]) ? i + 1 : i;
      char32_t c = s[j];
      if (IsLetter(c)) {
        end = j + 1;
        while (end < n && IsLetter(s[end])) ++end;
      } else if (IsNumber(c)) {
        end = j + 1;
        while (end < n && IsNumber(s[end])) ++end;
      } else if (!IsWhitespace(c)) {
        auto other = [](char32_t x) { return !IsWhitespace(x) && !IsLetter(x) && !IsNumber(x); };
        end = j + 1;
        while (end < n && other(s[end])) ++end;
      } else {
        size_t e = i;
        while (e < n && IsWhitespace(s[e])) ++e;
        end = (e < n && e - i >= 2) ? e - 1 : e;
      }
    }
    out->push_back(s.substr(i, end - i));
    i = end;
  }
}

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void Split(std::vector<std::u32string>* pieces) const override {
    std::vector<std::u32string> split;
    for (auto& p : *pieces) {
      if (add_prefix_space_ && (p.empty() || p[0] != ' ')) p.insert(p.begin(), U' ');
      if (use_regex_) {
        SplitGpt2(p, &split);
      } else {
        split.push_back(std::move(p));
      }
    }
    pieces->clear();
    for (const auto& p : split) {
      std::string bytes = EncodeUtf8(p);
      std::u32string mapped;
      mapped.reserve(bytes.size());
      for (char b : bytes) mapped.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
      pieces->push_back(std::move(mapped));
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {}
  void Split(std::vector<std::u32string>* pieces) const override {
    std::vector<std::u32string> out;
    for (size_t k = 0; k < pieces->size(); ++k) {
      std::u32string p = (*pieces)[k];
      std::replace(p.begin(), p.end(), U' ', replacement_);
      bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && k == 0);
      if (prepend && (p.empty() || p[0] != replacement_)) p.insert(p.begin(), replacement_);
      if (!split_) {
        out.push_back(std::move(p));
        continue;
      }
      std::u32string cur;  // each replacement starts a new piece (merged with what follows)
      for (char32_t c : p) {
        if (c == replacement_ && !cur.empty()) out.push_back(std::exchange(cur, {}));
        cur.push_back(c);
      }
      if (!cur.empty()) out.push_back(std::move(cur));
    }
    *pieces = std::move(out);
  }

 private:
  char32_t replacement_;
  PrependScheme scheme_;
  bool split_;
};

// ---- post-processors --------------------------------------------------------------------------

class Template final : public PostProcessor {
 public:
  Template(std::vector<Token> before, std::vector<Token> after, std::vector<int64_t> before_types,
           std::vector<int64_t> after_types, int64_t sequence_type)
      : before_(std::move(before)),
        after_(std::move(after)),
        before_types_(std::move(before_types)),
        after_types_(std::move(after_types)),
        sequence_type_(sequence_type) {}
  size_t Added() const override { return before_.size() + after_.size(); }
  void Process(std::vector<Token>* tokens, std::vector<int64_t>* type_ids) const override {
    std::fill(type_ids->begin(), type_ids->end(), sequence_type_);
    tokens->insert(tokens->begin(), before_.begin(), before_.end());
    type_ids->insert(type_ids->begin(), before_types_.begin(), before_types_.end());
    tokens->insert(tokens->end(), after_.begin(), after_.end());
    type_ids->insert(type_ids->end(), after_types_.begin(), after_types_.end());
  }

 private:
  std::vector<Token> before_, after_;
  std::vector<int64_t> before_types_, after_types_;
  int64_t sequence_type_;
};

bool IsAsciiWordByte(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

}  // namespace

// ---- factories --------------------------------------------------------------------------------

std::unique_ptr<Normalizer> MakeBertNormalizer(const BertNormalizerOptions& o) {
  return std::make_unique<BertNormalizer>(o);
}
std::unique_ptr<Normalizer> MakeLowercase() {
  return std::make_unique<FnNormalizer>([](std::u32string* s) { *s = Lowercase(*s); });
}
std::unique_ptr<Normalizer> MakeNfd() {
  return std::make_unique<FnNormalizer>([](std::u32string* s) { *s = Nfd(*s); });
}
std::unique_ptr<Normalizer> MakeNfc() {
  return std::make_unique<FnNormalizer>([](std::u32string* s) { *s = Nfc(*s); });
}
std::unique_ptr<Normalizer> MakeStripAccents() {
  // Hugging Face's StripAccents removes marks without decomposing: it follows an NFD normalizer.
  return std::make_unique<FnNormalizer>([](std::u32string* s) { std::erase_if(*s, IsMark); });
}
std::unique_ptr<Normalizer> MakeStrip(bool left, bool right) {
  return std::make_unique<FnNormalizer>([left, right](std::u32string* s) {
    size_t b = 0, e = s->size();
    if (left) {
      while (b < e && IsWhitespace((*s)[b])) ++b;
    }
    if (right) {
      while (e > b && IsWhitespace((*s)[e - 1])) --e;
    }
    *s = s->substr(b, e - b);
  });
}
std::unique_ptr<Normalizer> MakeReplace(std::u32string pattern, std::u32string content) {
  return std::make_unique<FnNormalizer>([pattern, content](std::u32string* s) {
    if (pattern.empty()) return;
    std::u32string out;
    size_t i = 0;
    for (size_t j; (j = s->find(pattern, i)) != std::u32string::npos; i = j + pattern.size()) {
      out.append(*s, i, j - i);
      out += content;
    }
    out.append(*s, i, std::u32string::npos);
    *s = std::move(out);
  });
}
std::unique_ptr<Normalizer> MakePrepend(std::u32string prefix) {
  return std::make_unique<FnNormalizer>([prefix](std::u32string* s) {
    if (!s->empty()) s->insert(0, prefix);
  });
}

std::unique_ptr<PreTokenizer> MakeBertPreTokenizer() {
  return std::make_unique<FnPreTokenizer>([](std::vector<std::u32string>* p) {
    SplitPieces(p, IsWhitespace, Behavior::kRemoved);
    SplitPieces(p, IsBertPunctuation, Behavior::kIsolated);
  });
}
std::unique_ptr<PreTokenizer> MakeWhitespace() {
  return std::make_unique<FnPreTokenizer>([](std::vector<std::u32string>* pieces) {
    std::vector<std::u32string> out;
    for (const auto& p : *pieces) {
      for (size_t i = 0; i < p.size();) {
        if (IsWhitespace(p[i])) {
          ++i;
          continue;
        }
        bool word = IsWordChar(p[i]);
        size_t j = i + 1;
        while (j < p.size() && !IsWhitespace(p[j]) && IsWordChar(p[j]) == word) ++j;
        out.push_back(p.substr(i, j - i));
        i = j;
      }
    }
    *pieces = std::move(out);
  });
}
std::unique_ptr<PreTokenizer> MakeWhitespaceSplit() {
  return std::make_unique<FnPreTokenizer>(
      [](std::vector<std::u32string>* p) { SplitPieces(p, IsWhitespace, Behavior::kRemoved); });
}
std::unique_ptr<PreTokenizer> MakePunctuation() {
  return std::make_unique<FnPreTokenizer>(
      [](std::vector<std::u32string>* p) { SplitPieces(p, IsBertPunctuation, Behavior::kIsolated); });
}
std::unique_ptr<PreTokenizer> MakeDigits(bool individual) {
  return std::make_unique<FnPreTokenizer>([individual](std::vector<std::u32string>* p) {
    SplitPieces(p, IsNumber, individual ? Behavior::kIsolated : Behavior::kContiguous);
  });
}
std::unique_ptr<PreTokenizer> MakeByteLevel(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> MakeMetaspace(char32_t replacement, PrependScheme scheme, bool split) {
  return std::make_unique<Metaspace>(replacement, scheme, split);
}

std::unique_ptr<PostProcessor> MakeTemplate(std::vector<Token> before, std::vector<Token> after,
                                            std::vector<int64_t> before_types,
                                            std::vector<int64_t> after_types, int64_t sequence_type) {
  return std::make_unique<Template>(std::move(before), std::move(after), std::move(before_types),
                                    std::move(after_types), sequence_type);
}

char32_t ByteToUnicode(uint8_t b) {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int i = 0; i < 256; ++i) {
      bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255);
      t[i] = printable ? static_cast<char32_t>(i) : next++;
    }
    return t;
  }();
  return table[b];
}

// ---- the pipeline -----------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<TokenizerParts> parts) : parts_(std::move(parts)) {
  std::stable_sort(parts_->added.begin(), parts_->added.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  std::erase_if(parts_->added, [](const AddedToken& a) { return a.content.empty(); });
  for (const auto& a : parts_->added) parts_->added_first_bytes.set(static_cast<unsigned char>(a.content[0]));
}
Tokenizer::~Tokenizer() = default;

Encoding Tokenizer::Encode(std::string_view text, size_t max_length) const {
  const TokenizerParts& p = *parts_;
  size_t added = 0;
  for (const auto& pp : p.post_processors) added += pp->Added();
  const size_t limit = max_length > 0 ? max_length : p.truncation_max_length.value_or(0);
  const size_t budget = limit > added ? limit - added : 0;
  // Truncating on the right keeps the first `budget` tokens, so the model stops as soon as it
  // has produced them: the rest of a long text is never tokenized (the tokens kept are the same
  // either way). Truncating on the left needs the end of the text, so the whole text is read.
  const bool stop_early = limit > 0 && !p.truncate_left;
  std::vector<Token> tokens;
  size_t pieces_tokenized = 0;
  auto done = [&] { return stop_early && tokens.size() >= budget; };
  auto run_pipeline = [&](std::string_view segment) {
    if (segment.empty() || done()) return;
    std::u32string s = DecodeUtf8(segment);
    for (const auto& n : p.normalizers) n->Normalize(&s);
    std::vector<std::u32string> pieces;
    if (!s.empty()) pieces.push_back(std::move(s));
    for (const auto& t : p.pre_tokenizers) t->Split(&pieces);
    for (const auto& piece : pieces) {
      if (done()) break;
      if (piece.empty()) continue;
      p.model->Tokenize(piece, &tokens);
      ++pieces_tokenized;
    }
  };

  // Added tokens are found in the raw text first; the text between them goes through the
  // pipeline.
  size_t seg = 0;
  for (size_t i = 0; i < text.size() && !done();) {
    const AddedToken* hit = nullptr;
    if (!p.added_first_bytes.test(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    for (const auto& a : p.added) {
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      if (a.single_word &&
          ((i > 0 && IsAsciiWordByte(text[i - 1])) ||
           (i + a.content.size() < text.size() && IsAsciiWordByte(text[i + a.content.size()])))) {
        continue;
      }
      hit = &a;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t before_end = i;
    if (hit->lstrip) {
      while (before_end > seg && std::isspace(static_cast<unsigned char>(text[before_end - 1]))) --before_end;
    }
    run_pipeline(text.substr(seg, before_end - seg));
    if (done()) break;
    tokens.push_back({hit->id, hit->content});
    i += hit->content.size();
    if (hit->rstrip) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    }
    seg = i;
  }
  if (!done()) run_pipeline(text.substr(seg));

  if (limit > 0 && tokens.size() > budget) {
    if (p.truncate_left) {
      tokens.erase(tokens.begin(), tokens.end() - static_cast<ptrdiff_t>(budget));
    } else {
      tokens.resize(budget);
    }
  }
  std::vector<int64_t> types(tokens.size(), 0);
  for (const auto& pp : p.post_processors) pp->Process(&tokens, &types);
  // A limit below the special tokens' count cuts them too (on the truncation side): the result
  // never exceeds max_length, the length the model was set up for.
  if (limit > 0 && tokens.size() > limit) {
    const auto cut = static_cast<ptrdiff_t>(tokens.size() - limit);
    if (p.truncate_left) {
      tokens.erase(tokens.begin(), tokens.begin() + cut);
      types.erase(types.begin(), types.begin() + cut);
    } else {
      tokens.resize(limit);
      types.resize(limit);
    }
  }

  Encoding e;
  e.ids.reserve(tokens.size());
  e.tokens.reserve(tokens.size());
  for (auto& t : tokens) {
    e.ids.push_back(t.id);
    e.tokens.push_back(std::move(t.text));
  }
  e.type_ids = std::move(types);
  e.pieces_tokenized = pieces_tokenized;
  return e;
}

std::optional<int64_t> Tokenizer::TokenToId(std::string_view token) const {
  for (const auto& a : parts_->added) {
    if (a.content == token) return a.id;
  }
  return parts_->model->TokenToId(token);
}

int64_t Tokenizer::pad_id() const { return parts_->pad_id; }
std::optional<size_t> Tokenizer::truncation_max_length() const { return parts_->truncation_max_length; }

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::filesystem::path& path,
                                                         const VocabTxtOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = path.extension() == ".json" ? FromHuggingFaceJson(text) : FromVocabTxt(text, options);
  if (!t.ok()) return t.status().WithContext(path.filename().string());
  return t;
}

}  // namespace continuum::tasks::text
