// Loading tokenizers: Hugging Face tokenizer.json, and BERT's vocab.txt.
#include <simdjson.h>

#include <map>

#include "tasks/text/tokenizer.h"
#include "tasks/text/tokenizer_internal.h"
#include "tasks/text/unicode.h"

namespace continuum::tasks::text {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

Status Error(std::string_view where, std::string_view what) {
  return InvalidArgument("tokenizer.json: " + std::string(where) + ": " + std::string(what));
}

Status Unsupported(std::string_view where, std::string_view type, std::string_view supported) {
  return Error(
      where, "type '" + std::string(type) + "' is not supported (supported: " + std::string(supported) + ")");
}

// Optional members: absent or null gives the default; a wrong type is an error.
StatusOr<bool> Bool(object o, std::string_view key, bool def, std::string_view where) {
  element e;
  if (o[key].get(e) || e.is_null()) return def;
  bool v;
  if (e.get_bool().get(v)) return Error(where, std::string(key) + ": expected a boolean");
  return v;
}

StatusOr<std::optional<std::string>> OptString(object o, std::string_view key, std::string_view where) {
  element e;
  if (o[key].get(e) || e.is_null()) return std::optional<std::string>();
  std::string_view v;
  if (e.get_string().get(v)) return Error(where, std::string(key) + ": expected a string");
  return std::optional<std::string>(std::string(v));
}

StatusOr<std::string> String(object o, std::string_view key, std::string_view def, std::string_view where) {
  ASSIGN_OR_RETURN(auto v, OptString(o, key, where));
  return v ? *v : std::string(def);
}

StatusOr<int64_t> Int(object o, std::string_view key, int64_t def, std::string_view where) {
  element e;
  if (o[key].get(e) || e.is_null()) return def;
  int64_t v;
  if (e.get_int64().get(v)) return Error(where, std::string(key) + ": expected an integer");
  return v;
}

StatusOr<std::string> Type(object o, std::string_view where) {
  std::string_view t;
  if (o["type"].get_string().get(t)) return Error(where, "missing \"type\"");
  return std::string(t);
}

StatusOr<std::unordered_map<std::string, int64_t>> Vocab(object model) {
  object v;
  if (model["vocab"].get_object().get(v)) return Error("model.vocab", "expected an object of token -> id");
  // One id per token and one token per id: a token listed twice, or two tokens sharing an id, would
  // make an id read back as a different token than the one it was encoded from.
  std::unordered_map<std::string, int64_t> vocab;
  std::unordered_map<int64_t, std::string> by_id;
  for (auto [tok, id] : v) {
    int64_t i;
    if (id.get_int64().get(i) || i < 0)
      return Error("model.vocab", "'" + std::string(tok) + "': expected an id");
    if (!vocab.emplace(std::string(tok), i).second)
      return Error("model.vocab", "'" + std::string(tok) + "' is listed twice");
    if (auto [it, fresh] = by_id.emplace(i, std::string(tok)); !fresh)
      return Error("model.vocab",
                   "'" + it->second + "' and '" + std::string(tok) + "' both have id " + std::to_string(i));
  }
  return vocab;
}

// A "Sequence" component: each item of o[key], added by add(item, where) with its place
// ("<where>.<key>[i]").
template <class Add>
Status AddSequence(object o, std::string_view key, std::string_view where, Add add) {
  array items;
  if (o[key].get_array().get(items))
    return Error(where, "Sequence: expected \"" + std::string(key) + "\": [...]");
  size_t i = 0;
  for (element n : items) {
    RETURN_IF_ERROR(add(n, std::string(where) + "." + std::string(key) + "[" + std::to_string(i++) + "]"));
  }
  return Status::Ok();
}

Status AddNormalizer(element e, std::string_view where, TokenizerParts* parts) {
  if (e.is_null()) return Status::Ok();
  object o;
  if (e.get_object().get(o)) return Error(where, "expected an object");
  ASSIGN_OR_RETURN(std::string type, Type(o, where));
  auto& out = parts->normalizers;
  if (type == "BertNormalizer") {
    BertNormalizerOptions b;
    ASSIGN_OR_RETURN(b.clean_text, Bool(o, "clean_text", true, where));
    ASSIGN_OR_RETURN(b.handle_chinese_chars, Bool(o, "handle_chinese_chars", true, where));
    ASSIGN_OR_RETURN(b.lowercase, Bool(o, "lowercase", true, where));
    element sa;
    if (!o["strip_accents"].get(sa) && !sa.is_null()) {
      bool v;
      if (sa.get_bool().get(v)) return Error(where, "strip_accents: expected a boolean or null");
      b.strip_accents = v;
    }
    out.push_back(MakeBertNormalizer(b));
  } else if (type == "Lowercase") {
    out.push_back(MakeLowercase());
  } else if (type == "NFD") {
    out.push_back(MakeNfd());
  } else if (type == "NFC") {
    out.push_back(MakeNfc());
  } else if (type == "StripAccents") {
    out.push_back(MakeStripAccents());
  } else if (type == "Strip") {
    ASSIGN_OR_RETURN(bool left, Bool(o, "strip_left", true, where));
    ASSIGN_OR_RETURN(bool right, Bool(o, "strip_right", true, where));
    out.push_back(MakeStrip(left, right));
  } else if (type == "Replace") {
    std::string_view pattern;
    if (o["pattern"]["String"].get_string().get(pattern)) {
      return Error(where, "Replace: only {\"String\": ...} patterns are supported (regex patterns are not)");
    }
    ASSIGN_OR_RETURN(std::string content, String(o, "content", "", where));
    out.push_back(MakeReplace(DecodeUtf8(pattern), DecodeUtf8(content)));
  } else if (type == "Prepend") {
    ASSIGN_OR_RETURN(std::string prepend, String(o, "prepend", "", where));
    out.push_back(MakePrepend(DecodeUtf8(prepend)));
  } else if (type == "Sequence") {
    RETURN_IF_ERROR(AddSequence(o, "normalizers", where, [&](element n, const std::string& at) {
      return AddNormalizer(n, at, parts);
    }));
  } else {
    return Unsupported(
        where, type, "BertNormalizer, Lowercase, NFD, NFC, StripAccents, Strip, Replace, Prepend, Sequence");
  }
  return Status::Ok();
}

Status AddPreTokenizer(element e, std::string_view where, TokenizerParts* parts) {
  if (e.is_null()) return Status::Ok();
  object o;
  if (e.get_object().get(o)) return Error(where, "expected an object");
  ASSIGN_OR_RETURN(std::string type, Type(o, where));
  auto& out = parts->pre_tokenizers;
  if (type == "BertPreTokenizer") {
    out.push_back(MakeBertPreTokenizer());
  } else if (type == "Whitespace") {
    out.push_back(MakeWhitespace());
  } else if (type == "WhitespaceSplit") {
    out.push_back(MakeWhitespaceSplit());
  } else if (type == "Punctuation") {
    ASSIGN_OR_RETURN(std::string behavior, String(o, "behavior", "Isolated", where));
    if (behavior != "Isolated")
      return Error(where, "Punctuation: behavior '" + behavior + "' is not supported");
    out.push_back(MakePunctuation());
  } else if (type == "Digits") {
    ASSIGN_OR_RETURN(bool individual, Bool(o, "individual_digits", false, where));
    out.push_back(MakeDigits(individual));
  } else if (type == "ByteLevel") {
    ASSIGN_OR_RETURN(bool prefix, Bool(o, "add_prefix_space", true, where));
    ASSIGN_OR_RETURN(bool regex, Bool(o, "use_regex", true, where));
    out.push_back(MakeByteLevel(prefix, regex));
  } else if (type == "Metaspace") {
    ASSIGN_OR_RETURN(std::string rep, String(o, "replacement", "\xE2\x96\x81", where));
    std::u32string r = DecodeUtf8(rep);
    if (r.size() != 1) return Error(where, "Metaspace: replacement must be one character");
    ASSIGN_OR_RETURN(bool legacy_prefix, Bool(o, "add_prefix_space", true, where));
    ASSIGN_OR_RETURN(std::string scheme,
                     String(o, "prepend_scheme", legacy_prefix ? "always" : "never", where));
    ASSIGN_OR_RETURN(bool split, Bool(o, "split", true, where));
    PrependScheme ps = scheme == "always"  ? PrependScheme::kAlways
                       : scheme == "first" ? PrependScheme::kFirst
                                           : PrependScheme::kNever;
    if (scheme != "always" && scheme != "first" && scheme != "never") {
      return Error(where, "Metaspace: prepend_scheme '" + scheme + "' is not supported");
    }
    out.push_back(MakeMetaspace(r[0], ps, split));
  } else if (type == "Sequence") {
    RETURN_IF_ERROR(AddSequence(o, "pretokenizers", where, [&](element n, const std::string& at) {
      return AddPreTokenizer(n, at, parts);
    }));
  } else {
    return Unsupported(
        where, type,
        "BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Digits, ByteLevel, Metaspace, "
        "Sequence");
  }
  return Status::Ok();
}

// ["[CLS]", 101] as used by BertProcessing / RobertaProcessing.
StatusOr<Token> TokenPair(object o, std::string_view key, std::string_view where) {
  array a;
  std::string_view s;
  int64_t id;
  if (o[key].get_array().get(a) || a.size() != 2 || a.at(0).get_string().get(s) ||
      a.at(1).get_int64().get(id)) {
    return Error(where, std::string(key) + ": expected [token, id]");
  }
  return Token{id, std::string(s)};
}

// `checked`: every token the post-processors add, with where it was given, checked against the
// vocabulary once the added tokens are known.
Status AddPostProcessor(element e, std::string_view where, TokenizerParts* parts,
                        std::vector<std::pair<std::string, Token>>* checked) {
  if (e.is_null()) return Status::Ok();
  object o;
  if (e.get_object().get(o)) return Error(where, "expected an object");
  ASSIGN_OR_RETURN(std::string type, Type(o, where));
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    ASSIGN_OR_RETURN(Token cls, TokenPair(o, "cls", where));
    ASSIGN_OR_RETURN(Token sep, TokenPair(o, "sep", where));
    checked->emplace_back(std::string(where) + ".cls", cls);
    checked->emplace_back(std::string(where) + ".sep", sep);
    parts->post_processors.push_back(MakeTemplate({cls}, {sep}, {0}, {0}, 0));
  } else if (type == "TemplateProcessing") {
    array single;
    object specials;
    if (o["single"].get_array().get(single))
      return Error(where, "TemplateProcessing: expected \"single\": [...]");
    bool has_specials = !o["special_tokens"].get_object().get(specials);
    std::vector<Token> before, after;
    std::vector<int64_t> before_types, after_types;
    int64_t seq_type = 0;
    bool seen_a = false;
    for (element item : single) {
      object it, body;
      if (item.get_object().get(it) || it.size() != 1) return Error(where, "single: bad template item");
      auto [kind, value] = *it.begin();
      if (value.get_object().get(body)) return Error(where, "single: bad template item");
      ASSIGN_OR_RETURN(std::string id, String(body, "id", "", where));
      ASSIGN_OR_RETURN(int64_t type_id, Int(body, "type_id", 0, where));
      if (kind == "Sequence") {
        if (id != "A" || seen_a) return Error(where, "single: only one sequence, A, is supported");
        seen_a = true;
        seq_type = type_id;
        continue;
      }
      if (kind != "SpecialToken") return Error(where, "single: unknown item '" + std::string(kind) + "'");
      object sp;
      array ids, toks;
      if (!has_specials || specials[id].get_object().get(sp) || sp["ids"].get_array().get(ids) ||
          sp["tokens"].get_array().get(toks) || ids.size() != toks.size()) {
        return Error(where, "special token '" + id + "' is not described in special_tokens");
      }
      for (size_t k = 0; k < ids.size(); ++k) {
        int64_t tid;
        std::string_view ttext;
        if (ids.at(k).get_int64().get(tid) || toks.at(k).get_string().get(ttext)) {
          return Error(where, "special token '" + id + "': bad ids/tokens");
        }
        (seen_a ? after : before).push_back({tid, std::string(ttext)});
        checked->emplace_back(std::string(where) + ".special_tokens." + id, Token{tid, std::string(ttext)});
        (seen_a ? after_types : before_types).push_back(type_id);
      }
    }
    if (!seen_a) return Error(where, "single: the template has no sequence $A");
    parts->post_processors.push_back(MakeTemplate(before, after, before_types, after_types, seq_type));
  } else if (type == "ByteLevel") {
    // Only adjusts offsets, which this tokenizer does not report.
  } else if (type == "Sequence") {
    RETURN_IF_ERROR(AddSequence(o, "processors", where, [&](element n, const std::string& at) {
      return AddPostProcessor(n, at, parts, checked);
    }));
  } else {
    return Unsupported(where, type,
                       "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence");
  }
  return Status::Ok();
}

Status SetModel(element e, TokenizerParts* parts) {
  object o;
  if (e.get_object().get(o)) return Error("model", "expected an object");
  std::string type;
  std::string_view t;
  if (!o["type"].get_string().get(t)) {
    type = std::string(t);
  } else {
    element m;
    type = !o["merges"].get(m) ? "BPE" : "";  // old files leave BPE untyped
  }
  if (type == "WordPiece") {
    WordPieceOptions w;
    ASSIGN_OR_RETURN(w.vocab, Vocab(o));
    ASSIGN_OR_RETURN(w.unk_token, String(o, "unk_token", "[UNK]", "model"));
    ASSIGN_OR_RETURN(w.prefix, String(o, "continuing_subword_prefix", "##", "model"));
    ASSIGN_OR_RETURN(int64_t max_chars, Int(o, "max_input_chars_per_word", 100, "model"));
    w.max_input_chars_per_word = static_cast<size_t>(std::max<int64_t>(max_chars, 0));
    auto m = MakeWordPiece(std::move(w));
    if (!m.ok()) return m.status().WithContext("tokenizer.json: model");
    parts->model = std::move(m).value();
  } else if (type == "BPE") {
    BpeOptions b;
    ASSIGN_OR_RETURN(b.vocab, Vocab(o));
    array merges;
    if (o["merges"].get_array().get(merges)) return Error("model", "BPE: expected \"merges\": [...]");
    for (element m : merges) {
      std::string_view s;
      array pair;
      if (!m.get_string().get(s)) {
        size_t sp = s.find(' ');
        if (sp == std::string_view::npos || s.find(' ', sp + 1) != std::string_view::npos) {
          return Error("model.merges", "'" + std::string(s) + "': expected two tokens separated by a space");
        }
        b.merges.emplace_back(std::string(s.substr(0, sp)), std::string(s.substr(sp + 1)));
      } else if (!m.get_array().get(pair) && pair.size() == 2) {
        std::string_view a, c;
        if (pair.at(0).get_string().get(a) || pair.at(1).get_string().get(c))
          return Error("model.merges", "bad pair");
        b.merges.emplace_back(std::string(a), std::string(c));
      } else {
        return Error("model.merges", "expected \"a b\" or [a, b]");
      }
    }
    ASSIGN_OR_RETURN(b.unk_token, OptString(o, "unk_token", "model"));
    ASSIGN_OR_RETURN(b.continuing_subword_prefix, String(o, "continuing_subword_prefix", "", "model"));
    ASSIGN_OR_RETURN(b.end_of_word_suffix, String(o, "end_of_word_suffix", "", "model"));
    ASSIGN_OR_RETURN(b.fuse_unk, Bool(o, "fuse_unk", false, "model"));
    ASSIGN_OR_RETURN(b.byte_fallback, Bool(o, "byte_fallback", false, "model"));
    ASSIGN_OR_RETURN(b.ignore_merges, Bool(o, "ignore_merges", false, "model"));
    auto m = MakeBpe(std::move(b));
    if (!m.ok()) return m.status().WithContext("tokenizer.json: model");
    parts->model = std::move(m).value();
  } else {
    return Unsupported("model", type.empty() ? "(untyped)" : type, "WordPiece, BPE");
  }
  return Status::Ok();
}

Status AddTokens(element e, TokenizerParts* parts) {
  array items;
  if (e.is_null()) return Status::Ok();
  if (e.get_array().get(items)) return Error("added_tokens", "expected an array");
  for (element item : items) {
    object o;
    if (item.get_object().get(o)) return Error("added_tokens", "expected objects");
    AddedToken a;
    ASSIGN_OR_RETURN(a.content, String(o, "content", "", "added_tokens"));
    ASSIGN_OR_RETURN(a.id, Int(o, "id", -1, "added_tokens"));
    if (a.content.empty() || a.id < 0) return Error("added_tokens", "each needs a content and an id");
    ASSIGN_OR_RETURN(a.single_word, Bool(o, "single_word", false, "added_tokens"));
    ASSIGN_OR_RETURN(a.lstrip, Bool(o, "lstrip", false, "added_tokens"));
    ASSIGN_OR_RETURN(a.rstrip, Bool(o, "rstrip", false, "added_tokens"));
    parts->added.push_back(std::move(a));
  }
  return Status::Ok();
}

// Added tokens agree with each other and with the vocabulary: one id per content, one content per
// id, and a content the vocabulary also holds keeps the vocabulary's id (else a token would encode
// to one id and read back as another).
Status CheckAddedTokens(const TokenizerParts& parts) {
  std::map<int64_t, const std::string*> by_id;
  std::map<std::string_view, int64_t> by_content;
  for (const auto& a : parts.added) {
    auto [id_it, new_id] = by_id.emplace(a.id, &a.content);
    if (!new_id && *id_it->second != a.content)
      return Error("added_tokens", "id " + std::to_string(a.id) + " is given to both " + *id_it->second +
                                       " and " + a.content);
    auto [c_it, new_content] = by_content.emplace(a.content, a.id);
    if (!new_content && c_it->second != a.id) return Error("added_tokens", a.content + " has two ids");
    if (auto vocab = parts.model->TokenToId(a.content); vocab && *vocab != a.id)
      return Error("added_tokens", a.content + " has id " + std::to_string(a.id) +
                                       " but the vocabulary gives it " + std::to_string(*vocab));
  }
  return Status::Ok();
}

// The pad id when the file does not say: [PAD] or <pad> if the vocabulary has one, else 0.
int64_t GuessPadId(const TokenizerParts& parts) {
  for (const char* name : {"[PAD]", "<pad>"}) {
    for (const auto& a : parts.added) {
      if (a.content == name) return a.id;
    }
    if (auto id = parts.model->TokenToId(name)) return *id;
  }
  return 0;
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromHuggingFaceJson(std::string_view json) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err) {
    return InvalidArgument(std::string("tokenizer.json: invalid JSON: ") + simdjson::error_message(err));
  }
  object o;
  if (root.get_object().get(o)) return InvalidArgument("tokenizer.json: expected an object");
  auto parts = std::make_unique<TokenizerParts>();
  element e;
  if (o["model"].get(e)) return Error("model", "required");
  RETURN_IF_ERROR(SetModel(e, parts.get()));
  if (!o["normalizer"].get(e)) RETURN_IF_ERROR(AddNormalizer(e, "normalizer", parts.get()));
  if (!o["pre_tokenizer"].get(e)) RETURN_IF_ERROR(AddPreTokenizer(e, "pre_tokenizer", parts.get()));
  std::vector<std::pair<std::string, Token>> specials;
  if (!o["post_processor"].get(e))
    RETURN_IF_ERROR(AddPostProcessor(e, "post_processor", parts.get(), &specials));
  if (!o["added_tokens"].get(e)) RETURN_IF_ERROR(AddTokens(e, parts.get()));
  RETURN_IF_ERROR(CheckAddedTokens(*parts));
  // A special token's id is the one the vocabulary gives it: an id the model was not trained
  // with (or none at all) would reach its embedding lookup.
  for (const auto& [where, token] : specials) {
    std::optional<int64_t> id;
    for (const auto& a : parts->added) {
      if (a.content == token.text) {
        id = a.id;
        break;
      }
    }
    if (!id) id = parts->model->TokenToId(token.text);
    if (id != token.id) {
      return Error(where, "'" + token.text + "' has id " + std::to_string(token.id) + ", the vocabulary " +
                              (id ? "gives it " + std::to_string(*id) : std::string("does not have it")));
    }
  }
  parts->pad_id = GuessPadId(*parts);
  object pad;
  if (!o["padding"].get_object().get(pad)) {
    ASSIGN_OR_RETURN(parts->pad_id, Int(pad, "pad_id", parts->pad_id, "padding"));
  }
  object trunc;
  if (!o["truncation"].get_object().get(trunc)) {
    ASSIGN_OR_RETURN(int64_t max, Int(trunc, "max_length", 0, "truncation"));
    if (max > 0) parts->truncation_max_length = static_cast<size_t>(max);
    ASSIGN_OR_RETURN(std::string dir, String(trunc, "direction", "Right", "truncation"));
    parts->truncate_left = dir == "Left";
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(parts)));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromVocabTxt(std::string_view text,
                                                             const VocabTxtOptions& options) {
  WordPieceOptions w;
  int64_t id = 0;
  for (size_t pos = 0; pos < text.size(); ++id) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    w.vocab.insert_or_assign(std::string(line), id);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
  }
  if (w.vocab.empty()) return InvalidArgument("vocab.txt: empty");
  auto parts = std::make_unique<TokenizerParts>();
  BertNormalizerOptions n;
  n.lowercase = options.lowercase;
  n.strip_accents = options.strip_accents;
  n.handle_chinese_chars = options.handle_chinese_chars;
  parts->normalizers.push_back(MakeBertNormalizer(n));
  parts->pre_tokenizers.push_back(MakeBertPreTokenizer());
  std::optional<int64_t> cls, sep;
  for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
    auto it = w.vocab.find(special);
    if (it == w.vocab.end()) continue;
    parts->added.push_back({special, it->second});
    if (std::string_view(special) == "[CLS]") cls = it->second;
    if (std::string_view(special) == "[SEP]") sep = it->second;
  }
  if (!cls || !sep) return InvalidArgument("vocab.txt: needs the [CLS] and [SEP] tokens");
  parts->post_processors.push_back(MakeTemplate({{*cls, "[CLS]"}}, {{*sep, "[SEP]"}}, {0}, {0}, 0));
  auto model = MakeWordPiece(std::move(w));
  if (!model.ok()) return model.status().WithContext("vocab.txt");
  parts->model = std::move(model).value();
  parts->pad_id = GuessPadId(*parts);
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(parts)));
}

}  // namespace continuum::tasks::text
