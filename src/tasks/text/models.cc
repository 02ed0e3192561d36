// The tokenizer models: WordPiece (greedy longest match) and BPE (ranked merges).
#include <climits>
#include <cstdio>

#include "tasks/text/tokenizer_internal.h"
#include "tasks/text/unicode.h"

namespace continuum::tasks::text {
namespace {

// UTF-8 of a word and the byte offset of each code point (offsets[n] = total size).
void Utf8WithOffsets(std::u32string_view word, std::string* utf8, std::vector<size_t>* offsets) {
  utf8->clear();
  offsets->assign(word.size() + 1, 0);
  for (size_t i = 0; i < word.size(); ++i) {
    (*offsets)[i] = utf8->size();
    AppendUtf8(word[i], utf8);
  }
  (*offsets)[word.size()] = utf8->size();
}

std::optional<int64_t> IdOf(const std::unordered_map<std::string, int64_t>& vocab, std::string_view token) {
  auto it = vocab.find(std::string(token));
  if (it == vocab.end()) return std::nullopt;
  return it->second;
}

class WordPiece final : public Model {
 public:
  WordPiece(WordPieceOptions o, int64_t unk_id) : o_(std::move(o)), unk_id_(unk_id) {}

  void Tokenize(std::u32string_view word, std::vector<Token>* out) const override {
    if (word.size() > o_.max_input_chars_per_word) {
      out->push_back({unk_id_, o_.unk_token});
      return;
    }
    std::string utf8;
    std::vector<size_t> off;
    Utf8WithOffsets(word, &utf8, &off);
    const size_t n = word.size();
    std::vector<Token> pieces;
    std::string candidate;
    for (size_t start = 0; start < n;) {
      bool found = false;
      size_t end = n;
      for (; end > start; --end) {
        candidate.assign(start > 0 ? o_.prefix : std::string());
        candidate.append(utf8, off[start], off[end] - off[start]);
        auto it = o_.vocab.find(candidate);
        if (it != o_.vocab.end()) {
          pieces.push_back({it->second, candidate});
          found = true;
          break;
        }
      }
      if (!found) {  // one unmatched piece makes the whole word unknown
        out->push_back({unk_id_, o_.unk_token});
        return;
      }
      start = end;
    }
    for (auto& p : pieces) out->push_back(std::move(p));
  }

  std::optional<int64_t> TokenToId(std::string_view token) const override { return IdOf(o_.vocab, token); }

 private:
  WordPieceOptions o_;
  int64_t unk_id_;
};

class Bpe final : public Model {
 public:
  explicit Bpe(BpeOptions o) : o_(std::move(o)) {}

  Status Init() {
    if (o_.unk_token) {
      auto it = o_.vocab.find(*o_.unk_token);
      if (it == o_.vocab.end())
        return InvalidArgument("BPE: unk_token '" + *o_.unk_token + "' is not in the vocab");
      unk_id_ = it->second;
    }
    int32_t rank = 0;
    for (const auto& [a, b] : o_.merges) {
      auto ia = o_.vocab.find(a), ib = o_.vocab.find(b);
      if (ia == o_.vocab.end() || ib == o_.vocab.end()) {
        return InvalidArgument("BPE: merge '" + a + " " + b + "' uses a token that is not in the vocab");
      }
      std::string merged = a + StripPrefix(b);
      auto im = o_.vocab.find(merged);
      if (im == o_.vocab.end()) {
        return InvalidArgument("BPE: merge '" + a + " " + b + "' makes '" + merged +
                               "', which is not in the vocab");
      }
      merges_.try_emplace(Key(ia->second, ib->second), Merge{rank++, im->second});
    }
    return Status::Ok();
  }

  void Tokenize(std::u32string_view word, std::vector<Token>* out) const override {
    std::string utf8;
    std::vector<size_t> off;
    Utf8WithOffsets(word, &utf8, &off);
    if (o_.ignore_merges) {
      auto it = o_.vocab.find(utf8);
      if (it != o_.vocab.end()) {
        out->push_back({it->second, utf8});
        return;
      }
    }
    std::vector<Token> syms;
    bool last_unk = false;
    const size_t n = word.size();
    for (size_t i = 0; i < n; ++i) {
      std::string s = (i > 0 ? o_.continuing_subword_prefix : std::string()) +
                      utf8.substr(off[i], off[i + 1] - off[i]) +
                      (i + 1 == n ? o_.end_of_word_suffix : std::string());
      auto it = o_.vocab.find(s);
      if (it != o_.vocab.end()) {
        syms.push_back({it->second, std::move(s)});
        last_unk = false;
        continue;
      }
      if (o_.byte_fallback && ByteFallback(utf8.substr(off[i], off[i + 1] - off[i]), &syms)) {
        last_unk = false;
        continue;
      }
      if (unk_id_) {  // unknown characters become unk (fused when asked); without unk they vanish
        if (!(o_.fuse_unk && last_unk)) syms.push_back({*unk_id_, *o_.unk_token});
        last_unk = true;
      }
    }
    // Apply the lowest-ranked merge, leftmost first, until none applies.
    while (syms.size() > 1) {
      int32_t best = INT32_MAX;
      size_t pos = 0;
      const Merge* merge = nullptr;
      for (size_t j = 0; j + 1 < syms.size(); ++j) {
        auto it = merges_.find(Key(syms[j].id, syms[j + 1].id));
        if (it != merges_.end() && it->second.rank < best) {
          best = it->second.rank;
          pos = j;
          merge = &it->second;
        }
      }
      if (!merge) break;
      syms[pos].text += StripPrefix(syms[pos + 1].text);
      syms[pos].id = merge->id;
      syms.erase(syms.begin() + static_cast<ptrdiff_t>(pos) + 1);
    }
    for (auto& s : syms) out->push_back(std::move(s));
  }

  std::optional<int64_t> TokenToId(std::string_view token) const override { return IdOf(o_.vocab, token); }

 private:
  struct Merge {
    int32_t rank;
    int64_t id;
  };
  static uint64_t Key(int64_t a, int64_t b) {
    return static_cast<uint64_t>(a) << 32 | static_cast<uint32_t>(b);
  }
  std::string StripPrefix(const std::string& b) const {
    const auto& p = o_.continuing_subword_prefix;
    return !p.empty() && b.starts_with(p) ? b.substr(p.size()) : b;
  }
  // <0xAB> tokens for each byte; false (nothing added) when one is missing from the vocab.
  bool ByteFallback(const std::string& bytes, std::vector<Token>* syms) const {
    std::vector<Token> add;
    for (char c : bytes) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned>(static_cast<unsigned char>(c)));
      auto it = o_.vocab.find(name);
      if (it == o_.vocab.end()) return false;
      add.push_back({it->second, name});
    }
    for (auto& t : add) syms->push_back(std::move(t));
    return true;
  }

  BpeOptions o_;
  std::optional<int64_t> unk_id_;
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace

StatusOr<std::unique_ptr<Model>> MakeWordPiece(WordPieceOptions o) {
  auto it = o.vocab.find(o.unk_token);
  if (it == o.vocab.end())
    return InvalidArgument("WordPiece: unk_token '" + o.unk_token + "' is not in the vocab");
  int64_t unk = it->second;
  return std::unique_ptr<Model>(std::make_unique<WordPiece>(std::move(o), unk));
}

StatusOr<std::unique_ptr<Model>> MakeBpe(BpeOptions o) {
  for (const auto& [tok, id] : o.vocab) {
    if (id < 0 || id > INT32_MAX) return InvalidArgument("BPE: token '" + tok + "' has an out-of-range id");
  }
  auto bpe = std::make_unique<Bpe>(std::move(o));
  RETURN_IF_ERROR(bpe->Init());
  return std::unique_ptr<Model>(std::move(bpe));
}

}  // namespace continuum::tasks::text
