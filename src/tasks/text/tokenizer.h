// Text tokenizers for encoder models: BERT's WordPiece from a vocab.txt, and Hugging Face
// tokenizer.json files (the pipeline of normalizer, pre-tokenizer, model and post-processor).
//
// Supported tokenizer.json components (anything else fails at load, naming the component):
//   normalizer     BertNormalizer, Lowercase, NFD, NFC, StripAccents, Strip, Replace (string
//                  pattern), Prepend, Sequence
//   pre_tokenizer  BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits, ByteLevel
//                  (GPT-2 split regex), Metaspace, Sequence
//   model          WordPiece, BPE (merges in either file format; byte-level vocabularies,
//                  continuing_subword_prefix, end_of_word_suffix, unk_token, fuse_unk,
//                  byte_fallback, ignore_merges; dropout is ignored: inference is deterministic)
//   post_processor TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence
//   added_tokens   matched in the raw text first (lstrip, rstrip, single_word honoured)
//   truncation     max_length and direction are used as defaults
// Not supported: Unigram and WordLevel models, Precompiled/NFKC/NFKD normalizers (SentencePiece
// conversions), the regex Split pre-tokenizer, sequence pairs. Unicode limits: see unicode.h.
//
// Thread-safety: immutable after loading; Encode may be called from any number of threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::tasks::text {

struct Encoding {
  std::vector<int64_t> ids;
  std::vector<int64_t> type_ids;
  std::vector<std::string> tokens;  // the token strings, special tokens included
  // Pre-tokenized pieces (words) the model tokenized: the work done. With truncation on the
  // right the model stops once max_length tokens are produced, so this stays bounded however
  // long the text.
  size_t pieces_tokenized = 0;
};

// BERT's BasicTokenizer switches, for vocab.txt.
struct VocabTxtOptions {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: follows lowercase
  bool handle_chinese_chars = true;
};

struct TokenizerParts;  // tokenizer_internal.h

class Tokenizer {
 public:
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // vocab.txt: one token per line, the id is the line number. Needs [UNK]; [CLS] and [SEP]
  // frame each text.
  static StatusOr<std::unique_ptr<Tokenizer>> FromVocabTxt(std::string_view vocab,
                                                           const VocabTxtOptions& options);
  static StatusOr<std::unique_ptr<Tokenizer>> FromHuggingFaceJson(std::string_view json);
  // By file name: *.json is a tokenizer.json, anything else a vocab.txt.
  static StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::filesystem::path& path,
                                                       const VocabTxtOptions& options = {});

  // Tokenizes one text and adds the special tokens. max_length > 0 truncates so that the result,
  // special tokens included, has at most max_length tokens (0: the tokenizer.json truncation
  // setting if any, else no limit); below the number of special tokens, those are cut too. Truncating on the
  // right (the default) stops tokenizing once the kept tokens are produced; the result is the same as
  // tokenizing everything and cutting. Normalization and pre-tokenization still see the whole text (linear,
  // and the text's size is bounded by the task limits, --max-text-bytes).
  Encoding Encode(std::string_view text, size_t max_length = 0) const;

  std::optional<int64_t> TokenToId(std::string_view token) const;
  int64_t pad_id() const;
  // tokenizer.json "truncation.max_length", if set.
  std::optional<size_t> truncation_max_length() const;

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerParts> parts);
  std::unique_ptr<TokenizerParts> parts_;
};

}  // namespace continuum::tasks::text
