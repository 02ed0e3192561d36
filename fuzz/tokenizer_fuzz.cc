// libFuzzer target for the text tokenizers (tasks/text/tokenizer.h): loading a Hugging Face
// tokenizer.json or a vocab.txt, and encoding arbitrary bytes with it. The input is the tokenizer
// file, a NUL byte, then one byte for max_length (its value mod 40; 0: no limit) and the text; with
// no NUL, the whole input is the file and a few fixed texts are encoded. A file that starts with
// '{' is a tokenizer.json, anything else a vocab.txt. Invariants: a file that does not load is an
// InvalidArgument; an encoding has as many ids, type ids and tokens; every id is the vocabulary's
// id of its token (so within the vocabulary); max_length, when given, bounds the length; encoding
// is deterministic, and truncating never produces tokens the full encoding does not have at the
// same place (right truncation keeps a prefix of the model's tokens).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "tasks/text/tokenizer.h"

namespace {

using namespace continuum;
using continuum::tasks::text::Encoding;
using continuum::tasks::text::Tokenizer;

using continuum::fuzz::Check;

void CheckEncoding(const Tokenizer& t, const Encoding& e, size_t max_length) {
  Check(e.ids.size() == e.tokens.size() && e.ids.size() == e.type_ids.size(), "ids, type ids, tokens agree");
  if (max_length > 0) Check(e.ids.size() <= max_length, "max_length bounds the length");
  for (size_t i = 0; i < e.ids.size(); ++i) {
    Check(e.ids[i] >= 0, "ids are >= 0");
    Check(t.TokenToId(e.tokens[i]) == e.ids[i], "each id is its token's id in the vocabulary");
  }
}

void EncodeAndCheck(const Tokenizer& t, std::string_view text, size_t max_length) {
  const Encoding e = t.Encode(text, max_length);
  CheckEncoding(t, e, max_length);
  const Encoding again = t.Encode(text, max_length);
  Check(again.ids == e.ids && again.tokens == e.tokens, "encoding is deterministic");
  if (max_length > 0) {
    const Encoding full = t.Encode(text, 0);
    CheckEncoding(t, full, 0);
    Check(e.ids.size() <= full.ids.size(), "truncation never lengthens");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view file = input.substr(0, nul);
  const bool json = !file.empty() && file.front() == '{';
  auto loaded = json ? Tokenizer::FromHuggingFaceJson(file)
                     : Tokenizer::FromVocabTxt(file, tasks::text::VocabTxtOptions{});
  if (!loaded.ok()) {
    Check(loaded.status().code() == StatusCode::kInvalidArgument,
          "a file that does not load is InvalidArgument");
    Check(!loaded.status().message().empty(), "load errors say what was wrong");
    return 0;
  }
  const Tokenizer& t = **loaded;
  if (nul == std::string_view::npos || nul + 1 >= input.size()) {
    for (std::string_view text : {"", "Hello, world! It's 12 o'clock.",
                                  "naïve café  \t\n 東京 🙂 \xff\xfe", "[CLS] [SEP] <s> </s> [UNK]"}) {
      EncodeAndCheck(t, text, 0);
      EncodeAndCheck(t, text, 3);
    }
    return 0;
  }
  const size_t max_length = static_cast<unsigned char>(input[nul + 1]) % 40;
  EncodeAndCheck(t, input.substr(nul + 2), max_length);
  return 0;
}
