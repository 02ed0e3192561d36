// The pieces of a Tokenizer (see tokenizer.h), shared by tokenizer.cc (the pipeline and its
// normalizers, pre-tokenizers and post-processors), models.cc (WordPiece, BPE) and
// tokenizer_json.cc (loading). Not for use outside src/tasks/text.
#pragma once

#include <bitset>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace continuum::tasks::text {

struct Token {
  int64_t id;
  std::string text;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void Normalize(std::u32string* s) const = 0;
};

// Splits each piece further (or rewrites it, as ByteLevel does).
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void Split(std::vector<std::u32string>* pieces) const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual void Tokenize(std::u32string_view word, std::vector<Token>* out) const = 0;
  virtual std::optional<int64_t> TokenToId(std::string_view token) const = 0;
};

// Adds the special tokens around one sequence.
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // How many tokens Process adds (for truncation).
  virtual size_t Added() const = 0;
  virtual void Process(std::vector<Token>* tokens, std::vector<int64_t>* type_ids) const = 0;
};

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false;
};

struct TokenizerParts {
  std::vector<std::unique_ptr<Normalizer>> normalizers;
  std::vector<std::unique_ptr<PreTokenizer>> pre_tokenizers;
  std::unique_ptr<Model> model;
  std::vector<std::unique_ptr<PostProcessor>> post_processors;
  std::vector<AddedToken> added;       // sorted longest first by the Tokenizer
  std::bitset<256> added_first_bytes;  // first bytes of the added tokens (set by the Tokenizer)
  int64_t pad_id = 0;
  std::optional<size_t> truncation_max_length;
  bool truncate_left = false;
};

// Components (tokenizer.cc, models.cc).
struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: follows lowercase
  bool lowercase = true;
};
std::unique_ptr<Normalizer> MakeBertNormalizer(const BertNormalizerOptions& o);
std::unique_ptr<Normalizer> MakeLowercase();
std::unique_ptr<Normalizer> MakeNfd();
std::unique_ptr<Normalizer> MakeNfc();
std::unique_ptr<Normalizer> MakeStripAccents();
std::unique_ptr<Normalizer> MakeStrip(bool left, bool right);
std::unique_ptr<Normalizer> MakeReplace(std::u32string pattern, std::u32string content);
std::unique_ptr<Normalizer> MakePrepend(std::u32string prefix);

std::unique_ptr<PreTokenizer> MakeBertPreTokenizer();
std::unique_ptr<PreTokenizer> MakeWhitespace();       // \w+|[^\w\s]+
std::unique_ptr<PreTokenizer> MakeWhitespaceSplit();  // on whitespace
std::unique_ptr<PreTokenizer> MakePunctuation();      // isolates punctuation
std::unique_ptr<PreTokenizer> MakeDigits(bool individual);
std::unique_ptr<PreTokenizer> MakeByteLevel(bool add_prefix_space, bool use_regex);
enum class PrependScheme { kAlways, kFirst, kNever };
std::unique_ptr<PreTokenizer> MakeMetaspace(char32_t replacement, PrependScheme scheme, bool split);

std::unique_ptr<PostProcessor> MakeTemplate(std::vector<Token> before, std::vector<Token> after,
                                            std::vector<int64_t> before_types,
                                            std::vector<int64_t> after_types, int64_t sequence_type);

struct WordPieceOptions {
  std::unordered_map<std::string, int64_t> vocab;
  std::string unk_token = "[UNK]";
  std::string prefix = "##";
  size_t max_input_chars_per_word = 100;
};
StatusOr<std::unique_ptr<Model>> MakeWordPiece(WordPieceOptions o);

struct BpeOptions {
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // in priority order
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};
StatusOr<std::unique_ptr<Model>> MakeBpe(BpeOptions o);

// GPT-2's reversible byte -> printable code point map.
char32_t ByteToUnicode(uint8_t b);

}  // namespace continuum::tasks::text
