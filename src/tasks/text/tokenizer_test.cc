#include "tasks/text/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tasks/text/tokenizer_internal.h"
#include "tasks/text/unicode.h"

namespace continuum::tasks::text {
namespace {

using Tokens = std::vector<std::string>;

// A small BERT vocabulary; ids are line numbers.
const Tokens kVocab = {"[PAD]",  "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cafe", "un", "##aff",
                       "##able", "hello", "world", ",",     "!",      ".",   "中",   "国", "play",
                       "##ing",  "a",     "##b",   "naive", "resume", "'",   "s",    "it", "##s"};

std::string VocabTxt() {
  std::string v;
  for (const auto& t : kVocab) v += t + "\n";
  return v;
}

// The same vocabulary as a Hugging Face tokenizer.json (what BertTokenizerFast saves).
std::string BertTokenizerJson(const std::string& pre_tokenizer = R"({"type":"BertPreTokenizer"})") {
  std::string vocab;
  for (size_t i = 0; i < kVocab.size(); ++i) {
    vocab += (i ? "," : "") + std::string("\"") + kVocab[i] + "\":" + std::to_string(i);
  }
  std::string added;
  for (int i = 0; i < 5; ++i) {
    added += (i ? "," : "") + std::string(R"({"id":)") + std::to_string(i) + R"(,"content":")" + kVocab[i] +
             R"(","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true})";
  }
  return R"({"version":"1.0","truncation":null,"padding":null,"added_tokens":[)" + added +
         R"(],"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,)"
         R"("strip_accents":null,"lowercase":true},"pre_tokenizer":)" +
         pre_tokenizer +
         R"(,"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},)"
         R"({"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],"pair":[],)"
         R"("special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]},)"
         R"("[SEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}},"decoder":null,)"
         R"("model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",)"
         R"("max_input_chars_per_word":100,"vocab":{)" +
         vocab + "}}}";
}

std::unique_ptr<Tokenizer> Bert(VocabTxtOptions o = {}) {
  auto t = Tokenizer::FromVocabTxt(VocabTxt(), o);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

Tokens Toks(const Tokenizer& t, std::string_view text, size_t max_length = 0) {
  return t.Encode(text, max_length).tokens;
}

TEST(TextUnicode, Classes) {
  EXPECT_TRUE(IsLetter(U'a'));
  EXPECT_TRUE(IsLetter(U'é'));
  EXPECT_TRUE(IsLetter(U'中'));
  EXPECT_TRUE(IsNumber(U'7'));
  EXPECT_TRUE(IsNumber(U'٣'));  // Arabic-Indic three
  EXPECT_TRUE(IsPunctuation(U'—'));
  EXPECT_TRUE(IsPunctuation(U'。'));
  EXPECT_TRUE(IsBertPunctuation(U'$'));  // ASCII symbol counts for BERT
  EXPECT_FALSE(IsPunctuation(U'$'));
  EXPECT_TRUE(IsWhitespace(0x3000));
  EXPECT_TRUE(IsBertControl(0x200B));  // zero width space is Cf
  EXPECT_FALSE(IsBertControl(U'\n'));
  EXPECT_EQ(Classify(0x301), CharClass::kMarkNonspacing);
  EXPECT_TRUE(IsCjkIdeograph(U'国'));
  EXPECT_FALSE(IsCjkIdeograph(U'あ'));
}

TEST(TextUnicode, AsciiFastPathAgreesWithTheTable) {
  // ASCII skips the generated table; the answers are Unicode's categories all the same.
  EXPECT_EQ(Classify(U'\t'), CharClass::kControl);
  EXPECT_EQ(Classify(0x7F), CharClass::kControl);
  EXPECT_EQ(Classify(U' '), CharClass::kSeparator);
  EXPECT_EQ(Classify(U'_'), CharClass::kConnectorPunct);
  EXPECT_EQ(Classify(U'$'), CharClass::kSymbol);
  EXPECT_EQ(Classify(U'`'), CharClass::kSymbol);
  EXPECT_EQ(Classify(U'-'), CharClass::kPunctuation);
  EXPECT_EQ(Classify(U'@'), CharClass::kPunctuation);
  EXPECT_EQ(Classify(U'Q'), CharClass::kLetter);
  EXPECT_EQ(Classify(U'0'), CharClass::kDecimalNumber);
}

TEST(TextUnicode, CaseAndNormalization) {
  EXPECT_EQ(EncodeUtf8(Lowercase(DecodeUtf8("ÀÉÎ ĀŁŽ ΣΑΣ ДЖ Hello"))), "àéî āłž σασ дж hello");
  EXPECT_EQ(EncodeUtf8(Lowercase(DecodeUtf8("İ"))), "i\xCC\x87");
  EXPECT_EQ(Nfd(U"é"), std::u32string(U"e\u0301"));
  EXPECT_EQ(Nfd(U"ǘ"), std::u32string(U"u\u0308\u0301"));  // two levels of decomposition
  EXPECT_EQ(Nfd(U"한"), std::u32string(U"\u1112\u1161\u11AB"));
  for (std::u32string s : {U"Café crème", U"Ǻngström ǘ", U"한국어", U"Ελληνικά ῷ"}) {
    EXPECT_EQ(Nfc(Nfd(s)), s) << EncodeUtf8(s);
  }
  EXPECT_EQ(Nfc(U"e\u0301"), std::u32string(U"é"));
}

TEST(TextUnicode, Utf8) {
  EXPECT_EQ(DecodeUtf8("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"), std::u32string(U"aé中😀"));
  EXPECT_EQ(EncodeUtf8(U"aé中😀"), "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
  EXPECT_EQ(DecodeUtf8("a\xFF"
                       "b"),
            std::u32string(U"a\uFFFDb"));
  EXPECT_EQ(DecodeUtf8("\xC0\xAF"), std::u32string(U"\uFFFD"));      // overlong
  EXPECT_EQ(DecodeUtf8("\xED\xA0\x80"), std::u32string(U"\uFFFD"));  // surrogate
  EXPECT_EQ(DecodeUtf8("\xE4\xB8"), std::u32string(U"\uFFFD"));      // truncated
}

TEST(TextWordPiece, HandWorkedCases) {
  auto t = Bert();
  EXPECT_EQ(Toks(*t, "Café"), (Tokens{"[CLS]", "cafe", "[SEP]"}));
  EXPECT_EQ(t->Encode("Café").ids, (std::vector<int64_t>{2, 6, 3}));
  EXPECT_EQ(t->Encode("Café").type_ids, (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(Toks(*t, "Hello, world!"), (Tokens{"[CLS]", "hello", ",", "world", "!", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "中国"), (Tokens{"[CLS]", "中", "国", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "hello中国world"), (Tokens{"[CLS]", "hello", "中", "国", "world", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "unaffable"), (Tokens{"[CLS]", "un", "##aff", "##able", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "PLAYING"), (Tokens{"[CLS]", "play", "##ing", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "Naïve résumé"), (Tokens{"[CLS]", "naive", "resume", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "xyz"), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));
  // One unmatched piece makes the whole word unknown, not just its tail.
  EXPECT_EQ(Toks(*t, "playx"), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "it's"), (Tokens{"[CLS]", "it", "'", "s", "[SEP]"}));
}

TEST(TextWordPiece, WhitespaceControlAndUnicodePunctuation) {
  auto t = Bert();
  EXPECT_EQ(Toks(*t, "  hello\t\n world\u00a0 "), (Tokens{"[CLS]", "hello", "world", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "hel\u200blo"), (Tokens{"[CLS]", "hello", "[SEP]"}));     // Cf removed
  EXPECT_EQ(Toks(*t, "hello\x01world"), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));  // control removed: helloworld
  EXPECT_EQ(Toks(*t, "hello—world"),
            (Tokens{"[CLS]", "hello", "[UNK]", "world", "[SEP]"}));  // General Punctuation
  EXPECT_EQ(Toks(*t, "hello。world、"),
            (Tokens{"[CLS]", "hello", "[UNK]", "world", "[UNK]", "[SEP]"}));                  // CJK
  EXPECT_EQ(Toks(*t, "hello$world"), (Tokens{"[CLS]", "hello", "[UNK]", "world", "[SEP]"}));  // ASCII symbol
  EXPECT_EQ(Toks(*t, ""), (Tokens{"[CLS]", "[SEP]"}));
}

TEST(TextWordPiece, LongWordsAndTruncation) {
  auto t = Bert();
  std::string ok_word = "a" + std::string(99, 'b');  // 100 characters: a ##b ##b ...
  EXPECT_EQ(Toks(*t, ok_word).size(), 102u);
  EXPECT_EQ(Toks(*t, ok_word + "b"), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));  // 101 characters
  EXPECT_EQ(Toks(*t, "hello world the cafe", 4), (Tokens{"[CLS]", "hello", "world", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "hello world", 2), (Tokens{"[CLS]", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "hello world", 100).size(), 4u);
}

// max_length bounds the result even below the number of special tokens: those are cut too, on
// the truncation side.
TEST(TextWordPiece, MaxLengthBelowTheSpecialTokensCutsThem) {
  auto t = Bert();
  EXPECT_EQ(Toks(*t, "hello world", 1), (Tokens{"[CLS]"}));
  EXPECT_EQ(t->Encode("hello world", 1).type_ids.size(), 1u);
  std::string j = BertTokenizerJson();
  j.replace(j.find(R"("truncation":null)"), 17, R"("truncation":{"max_length":1,"direction":"Left"})");
  auto left = Tokenizer::FromHuggingFaceJson(j);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(Toks(**left, "hello world"), (Tokens{"[SEP]"}));
}

TEST(TextWordPiece, SpecialTokensInText) {
  auto t = Bert();
  EXPECT_EQ(Toks(*t, "hello [MASK] world[SEP]"),
            (Tokens{"[CLS]", "hello", "[MASK]", "world", "[SEP]", "[SEP]"}));
  EXPECT_EQ(t->pad_id(), 0);
  EXPECT_EQ(t->TokenToId("##able"), 9);
}

TEST(TextWordPiece, Cased) {
  auto t = Bert({.lowercase = false, .strip_accents = std::nullopt});
  EXPECT_EQ(Toks(*t, "Hello hello"), (Tokens{"[CLS]", "[UNK]", "hello", "[SEP]"}));
  EXPECT_EQ(Toks(*t, "café"), (Tokens{"[CLS]", "[UNK]", "[SEP]"}));  // accents kept when cased
  auto s = Bert({.lowercase = false, .strip_accents = true});
  EXPECT_EQ(Toks(*s, "café"), (Tokens{"[CLS]", "cafe", "[SEP]"}));
}

TEST(TextTokenizerJson, SameAsVocabTxt) {
  auto json = Tokenizer::FromHuggingFaceJson(BertTokenizerJson());
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  auto txt = Bert();
  for (std::string s : std::vector<std::string>{"Café", "Hello, world!", "中国 hello", "unaffable PLAYING",
                                                "xyz playx", "it's [MASK].", "Naïve  résumé\t!",
                                                "hello—world。", "", std::string(150, 'a')}) {
    auto a = (*json)->Encode(s, 8), b = txt->Encode(s, 8);
    EXPECT_EQ(a.ids, b.ids) << s;
    EXPECT_EQ(a.type_ids, b.type_ids) << s;
  }
}

#ifdef CONTINUUM_TINY_BERT
TEST(TextTokenizerJson, GeneratedFolderAgrees) {
  const std::filesystem::path dir = std::filesystem::path(CONTINUUM_TINY_BERT) / "tiny-bert-embeddings";
  auto json = Tokenizer::FromFile(dir / "tokenizer.json");
  auto txt = Tokenizer::FromFile(dir / "vocab.txt");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  ASSERT_TRUE(txt.ok()) << txt.status().ToString();
  for (std::string s : {"This movie was GREAT!", "I hated the food, it's awful.", "我 好 中国人",
                        "Ünaffable café", "12 books & 3 films?", "zzz qqq"}) {
    EXPECT_EQ((*json)->Encode(s).ids, (*txt)->Encode(s).ids) << s;
  }
}
#endif

TEST(TextTokenizerJson, WhitespacePreTokenizers) {
  auto ws = Tokenizer::FromHuggingFaceJson(BertTokenizerJson(R"({"type":"Whitespace"})"));
  ASSERT_TRUE(ws.ok()) << ws.status().ToString();
  // \w+|[^\w\s]+ : punctuation runs stay together.
  EXPECT_EQ(Toks(**ws, "hello,world!!"), (Tokens{"[CLS]", "hello", ",", "world", "[UNK]", "[SEP]"}));
  auto split = Tokenizer::FromHuggingFaceJson(BertTokenizerJson(R"({"type":"WhitespaceSplit"})"));
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(Toks(**split, "hello, world"), (Tokens{"[CLS]", "[UNK]", "world", "[SEP]"}));
  auto seq = Tokenizer::FromHuggingFaceJson(BertTokenizerJson(
      R"({"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Punctuation"}]})"));
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(Toks(**seq, "hello, world"), (Tokens{"[CLS]", "hello", ",", "world", "[SEP]"}));
}

// A byte-level BPE (GPT-2 / RoBERTa style) with hand-worked merges. "Ġ" is the byte-level
// character of the space byte.
std::string ByteBpeJson(bool with_prefix_space = false) {
  return std::string(
             R"({"version":"1.0","truncation":null,"padding":null,)"
             R"("added_tokens":[{"id":0,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true},)"
             R"({"id":3,"content":"<unk>","special":true},{"id":1,"content":"<pad>","special":true}],)"
             R"("normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":)") +
         (with_prefix_space ? "true" : "false") +
         R"(,"trim_offsets":true,"use_regex":true},)"
         R"("post_processor":{"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",0],"trim_offsets":true,)"
         R"("add_prefix_space":false},"decoder":{"type":"ByteLevel"},)"
         R"("model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":"",)"
         R"("end_of_word_suffix":"","fuse_unk":false,"vocab":{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,)"
         R"("h":4,"e":5,"l":6,"o":7,"Ġ":8,"w":9,"r":10,"d":11,"t":12,"i":13,"'":14,"s":15,)"
         R"("he":16,"ll":17,"hell":18,"hello":19,"Ġw":20,"or":21,"Ġwor":22,"t'":23,"'s":24,"it":25,"Ġh":26,)"
         R"("1":27,"2":28,"Ġ1":29,"!":30,"Ġ!":31},)"
         R"("merges":["h e","l l","he ll","hell o","Ġ w","o r","Ġw or","t '","' s","i t",["Ġ","h"],["Ġ","1"],)"
         R"(["Ġ","!"]]}})";
}

TEST(TextBpe, ByteLevelHandWorkedMerges) {
  auto t = Tokenizer::FromHuggingFaceJson(ByteBpeJson());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  // "hello": he, ll, hell, hello (ranks 0..3). "Ġworld": Ġw (4), or (5), Ġwor (6); l and d stay.
  EXPECT_EQ(Toks(**t, "hello world"), (Tokens{"<s>", "hello", "Ġwor", "l", "d", "</s>"}));
  EXPECT_EQ((*t)->Encode("hello world").ids, (std::vector<int64_t>{0, 19, 22, 6, 11, 2}));
  // The split keeps "'s" apart from "it", so the higher-ranked merge "t '" never applies.
  EXPECT_EQ(Toks(**t, "it's"), (Tokens{"<s>", "it", "'s", "</s>"}));
  // " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": the space goes with what follows.
  EXPECT_EQ(Toks(**t, "hello 12 !"), (Tokens{"<s>", "hello", "Ġ1", "2", "Ġ!", "</s>"}));
  // Unknown characters become <unk>; whitespace runs keep their last space for the next word.
  EXPECT_EQ(Toks(**t, "hex"), (Tokens{"<s>", "he", "<unk>", "</s>"}));
  EXPECT_EQ(Toks(**t, "hello  hello"), (Tokens{"<s>", "hello", "Ġ", "Ġ", "hello", "</s>"}));
  EXPECT_EQ((*t)->pad_id(), 1);
  EXPECT_EQ(Toks(**t, "hello world", 4), (Tokens{"<s>", "hello", "Ġwor", "</s>"}));

  auto p = Tokenizer::FromHuggingFaceJson(ByteBpeJson(true));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Toks(**p, "hello"), (Tokens{"<s>", "Ġ", "hello", "</s>"}));  // "h e" outranks "Ġ h"
}

TEST(TextBpe, ByteToUnicodeMap) {
  EXPECT_EQ(ByteToUnicode(' '), U'Ġ');
  EXPECT_EQ(ByteToUnicode('\n'), U'Ċ');
  EXPECT_EQ(ByteToUnicode('a'), U'a');
  EXPECT_EQ(ByteToUnicode(0xE9), U'é');
  EXPECT_EQ(ByteToUnicode(0xAD), static_cast<char32_t>(0x143));
}

TEST(TextBpe, SuffixAndByteFallback) {
  BpeOptions o;
  o.vocab = {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"b</w>", 3}, {"ab</w>", 4}, {"<0xC3>", 5}, {"<0xA9>", 6}};
  o.merges = {{"a", "b</w>"}};
  o.end_of_word_suffix = "</w>";
  o.unk_token = "<unk>";
  o.byte_fallback = true;
  auto m = MakeBpe(o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::vector<Token> out;
  (*m)->Tokenize(U"ab", &out);
  (*m)->Tokenize(U"é", &out);
  (*m)->Tokenize(U"ç", &out);
  std::vector<int64_t> ids;
  for (const auto& t : out) ids.push_back(t.id);
  EXPECT_EQ(ids, (std::vector<int64_t>{4, 5, 6, 0}));
}

TEST(TextTokenizerJson, ErrorsNameTheComponent) {
  auto with = [](std::string key, std::string value) {
    std::string j = BertTokenizerJson();
    size_t at = j.find("\"" + key + "\":");
    size_t start = at + key.size() + 3;
    // Replace the value: find the matching end of the object.
    int depth = 0;
    size_t end = start;
    for (; end < j.size(); ++end) {
      if (j[end] == '{') ++depth;
      if (j[end] == '}' && --depth == 0) break;
    }
    return j.substr(0, start) + value + j.substr(end + 1);
  };
  auto check = [](const std::string& json, std::string_view expect) {
    auto t = Tokenizer::FromHuggingFaceJson(json);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find(expect), std::string::npos) << t.status().message();
  };
  check(with("normalizer", R"({"type":"Precompiled","precompiled_charsmap":""})"),
        "normalizer: type 'Precompiled'");
  check(with("pre_tokenizer", R"({"type":"Split","pattern":{"Regex":"x"}})"), "pre_tokenizer: type 'Split'");
  check(with("model", R"({"type":"Unigram","vocab":[["a",0.0]]})"), "model: type 'Unigram'");
  check(with("post_processor", R"({"type":"Fancy"})"), "post_processor: type 'Fancy'");
  check(with("normalizer", R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"NFKC"}]})"),
        "normalizer.normalizers[1]: type 'NFKC'");
  check("{", "invalid JSON");
  auto v = Tokenizer::FromVocabTxt("a\nb\n", {});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("[CLS]"), std::string::npos);
}

// The post-processor's special tokens carry the ids the vocabulary gives them; any other id
// would reach the model's embedding lookup.
TEST(TextTokenizerJson, SpecialTokenIdsAgreeWithTheVocabulary) {
  auto check = [](std::string json, std::string_view from, std::string_view to, std::string_view expect) {
    json.replace(json.find(from), from.size(), to);
    auto t = Tokenizer::FromHuggingFaceJson(json);
    ASSERT_FALSE(t.ok()) << to;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(expect), std::string::npos) << t.status().message();
  };
  check(BertTokenizerJson(), R"("ids":[3])", R"("ids":[7])",
        "post_processor.special_tokens.[SEP]: '[SEP]' has id 7, the vocabulary gives it 3");
  check(ByteBpeJson(), R"("sep":["</s>",2])", R"("sep":["</s>",-4])",
        "post_processor.sep: '</s>' has id -4, the vocabulary gives it 2");
  check(ByteBpeJson(), R"("cls":["<s>",0])", R"("cls":["<x>",0])",
        "post_processor.cls: '<x>' has id 0, the vocabulary does not have it");
}

TEST(TextTokenizerJson, NormalizerSequence) {
  std::string j = BertTokenizerJson();
  size_t at = j.find(R"({"type":"BertNormalizer")");
  size_t end = j.find('}', at);
  j = j.substr(0, at) +
      R"({"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"Lowercase"},{"type":"StripAccents"},)"
      R"({"type":"Replace","pattern":{"String":"!"},"content":"."}]})" +
      j.substr(end + 1);
  auto t = Tokenizer::FromHuggingFaceJson(j);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(Toks(**t, "CAFÉ!"), (Tokens{"[CLS]", "cafe", ".", "[SEP]"}));
}

TEST(TextTokenizerJson, MetaspaceAndDigits) {
  const std::string model =
      R"("model":{"type":"WordPiece","unk_token":"<unk>","continuing_subword_prefix":"##",)"
      R"("vocab":{"<unk>":0,"▁hello":1,"▁world":2,"▁":3,"1":4,"2":5,"##2":6,"12":7}}})";
  auto make = [&](const std::string& pre) {
    auto t = Tokenizer::FromHuggingFaceJson(R"({"normalizer":null,"post_processor":null,"pre_tokenizer":)" +
                                            pre + "," + model);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(t).value();
  };
  auto meta = make(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true})");
  EXPECT_EQ(Toks(*meta, "hello world"), (Tokens{"▁hello", "▁world"}));
  EXPECT_EQ(Toks(*meta, "hello  world"), (Tokens{"▁hello", "▁", "▁world"}));
  auto never = make(R"({"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true})");
  EXPECT_EQ(Toks(*never, "hello world"), (Tokens{"<unk>", "▁world"}));
  auto digits = make(R"({"type":"Digits","individual_digits":true})");
  EXPECT_EQ(Toks(*digits, "12"), (Tokens{"1", "2"}));
  auto grouped = make(R"({"type":"Digits","individual_digits":false})");
  EXPECT_EQ(Toks(*grouped, "12"), (Tokens{"12"}));
}

TEST(TextTokenizerJson, TruncationSetting) {
  std::string j = BertTokenizerJson();
  j.replace(j.find(R"("truncation":null)"), 17, R"("truncation":{"max_length":3,"direction":"Left"})");
  auto t = Tokenizer::FromHuggingFaceJson(j);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(Toks(**t, "hello world"), (Tokens{"[CLS]", "world", "[SEP]"}));
  EXPECT_EQ(*(*t)->truncation_max_length(), 3u);
}

}  // namespace
}  // namespace continuum::tasks::text

namespace continuum::tasks::text {
namespace {

// A long text truncated on the right gives the same tokens as tokenizing it whole and cutting,
// and the same as its prefix, while the model only sees the words it needs.
TEST(TextTruncation, LongTextStopsOnceMaxLengthTokensAreProduced) {
  std::string text;
  const std::vector<std::string> words = {"hello", "world,",  "the",  "unaffable",
                                          "cafe!", "playing", "中国", "[MASK]"};
  for (size_t i = 0; text.size() < (64 << 10); ++i) text += words[i % words.size()] + " ";
  auto bert = Bert();
  auto json = Tokenizer::FromHuggingFaceJson(BertTokenizerJson());
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  auto bpe = Tokenizer::FromHuggingFaceJson(ByteBpeJson());
  ASSERT_TRUE(bpe.ok()) << bpe.status().ToString();
  for (const Tokenizer* t : {bert.get(), json->get(), bpe->get()}) {
    const Encoding whole = t->Encode(text);
    ASSERT_GT(whole.tokens.size(), 10000u);
    EXPECT_GT(whole.pieces_tokenized, 10000u);
    for (size_t max_length : {size_t{2}, size_t{3}, size_t{16}, size_t{128}, size_t{512}}) {
      const Encoding cut = t->Encode(text, max_length);
      ASSERT_EQ(cut.tokens.size(), max_length);
      // The same as the whole encoding, cut: first max_length - 1 tokens, then the closing one.
      std::vector<std::string> expected(whole.tokens.begin(), whole.tokens.begin() + (max_length - 1));
      expected.push_back(whole.tokens.back());
      EXPECT_EQ(cut.tokens, expected) << max_length;
      std::vector<int64_t> expected_ids(whole.ids.begin(), whole.ids.begin() + (max_length - 1));
      expected_ids.push_back(whole.ids.back());
      EXPECT_EQ(cut.ids, expected_ids) << max_length;
      EXPECT_EQ(cut.type_ids.size(), max_length);
      // The same as a prefix of the text that holds those tokens.
      EXPECT_EQ(t->Encode(std::string_view(text).substr(0, 40 * max_length), max_length).ids, cut.ids);
      // Bounded work: every word yields at least one token, so the model stopped at the budget.
      EXPECT_LE(cut.pieces_tokenized, max_length) << max_length;
    }
  }
}

TEST(TextTruncation, LeftTruncationStillReadsTheEnd) {
  std::string j = BertTokenizerJson();
  j.replace(j.find(R"("truncation":null)"), 17, R"("truncation":{"max_length":4,"direction":"Left"})");
  auto t = Tokenizer::FromHuggingFaceJson(j);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "hello ";
  EXPECT_EQ(Toks(**t, text + "the cafe"), (Tokens{"[CLS]", "the", "cafe", "[SEP]"}));
}

}  // namespace
}  // namespace continuum::tasks::text

namespace continuum::tasks::text {
namespace {

// Added tokens that disagree with each other or with the vocabulary are refused: a token would
// encode to one id and read back as another (found by tokenizer_fuzz).
TEST(TokenizerJsonAddedTokens, MustAgreeWithTheVocabulary) {
  const std::string good = BertTokenizerJson();
  ASSERT_TRUE(Tokenizer::FromHuggingFaceJson(good).ok());
  std::string shared_id = good;
  shared_id.replace(shared_id.find(R"({"id":1,)"), 8, R"({"id":2,)");  // [UNK] takes [CLS]'s id
  auto r = Tokenizer::FromHuggingFaceJson(shared_id);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("added_tokens"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[UNK] has id 2 but the vocabulary gives it 1"), std::string::npos)
      << r.status().message();
}

// One token per id and one id per token: otherwise an id would read back as another token.
TEST(TokenizerJsonVocabulary, IdsAndTokensAreUnique) {
  auto check = [](std::string json, std::string_view from, std::string_view to, std::string_view expect) {
    ASSERT_NE(json.find(from), std::string::npos) << from;
    json.replace(json.find(from), from.size(), to);
    auto t = Tokenizer::FromHuggingFaceJson(json);
    ASSERT_FALSE(t.ok()) << to;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(expect), std::string::npos) << t.status().message();
  };
  check(ByteBpeJson(), R"("e":5)", R"("e":4)", "model.vocab: 'h' and 'e' both have id 4");
  check(ByteBpeJson(), R"("e":5)", R"("h":5)", "model.vocab: 'h' is listed twice");
}

}  // namespace
}  // namespace continuum::tasks::text
