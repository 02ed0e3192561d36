// What the text tasks share: catalog settings, tokenization, and running an encoder model over
// many texts in sub-batches of similar length.
//
// Catalog settings read here (all optional):
//   "tokenizer"      file beside catalog.json: a tokenizer.json or a vocab.txt (default: whichever
//                    of tokenizer.json, vocab.txt exists)
//   "lowercase", "strip_accents"   vocab.txt only (BERT's do_lower_case; default true / follows)
//   "max_length"     tokens per text, special tokens included (default 512)
//   "inputs"         the graph's input names, any of input_ids, attention_mask, token_type_ids,
//                    position_ids (default the first three); "input_dtype": "INT64" or "INT32"
//   "output"         the graph output to read (default: the model's first output)
//   "max_batch_size" texts per model request (default 8; at most the repository model's
//                    max_batch_size)
// The repository model is `models.encoder` (or the entry's only model).
//
// Thread-safety: immutable after Create; Run may be called concurrently.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config_reader.h"
#include "common/status.h"
#include "common/tensor.h"
#include "tasks/task.h"
#include "tasks/text/tokenizer.h"

namespace continuum::tasks::text {

// The model output for one text, padding removed: [tokens, hidden] rows for a per-token output
// (rank 3), or one vector (rank 2).
struct TextOutput {
  int64_t rows = 1;  // tokens for a per-token output, 1 otherwise
  int64_t cols = 0;
  std::vector<float> values;  // rows * cols
  bool per_token = false;
};

class TextEncoder {
 public:
  // Reads the calling task's own settings from the same parsed object, once the encoder's are
  // read; errors name "settings.<field>" through `r`.
  using ReadTaskSettings = std::function<Status(const config::Reader& r, const config::Object& settings)>;
  // `extra_keys` are the calling task's own settings (accepted here, read by `read_task`).
  static StatusOr<std::unique_ptr<TextEncoder>> Create(const CatalogEntry& entry, const TaskLimits& limits,
                                                       const std::set<std::string>& extra_keys,
                                                       const ReadTaskSettings& read_task = {});
  // Checks the request's texts against the limits (count, empty, size); errors name the index.
  Status CheckTexts(const TaskRequest& request) const;
  // Tokenizes every text, runs the model in sub-batches of similar length (see Plan; at most
  // max_batch_size texts each, all sent at once so the scheduler can batch them with each other
  // and with other requests), and returns each text's output in request order.
  StatusOr<std::vector<TextOutput>> Run(const std::vector<std::string>& texts, ModelRunner& runner,
                                        int64_t* tokens) const;

  Encoding Encode(std::string_view text) const { return tokenizer_->Encode(text, max_length_); }
  const std::string& model() const { return model_; }
  int64_t max_batch_size() const { return max_batch_size_; }

  // Padded lengths come from a fixed ladder (multiples of 4 up to 64, then 8 steps per doubling:
  // 72, 80, ... 128, 144, ...; never past max_length), so padding stays under 12.5% (or 3
  // tokens) and sub-batches of different requests share shapes, which the scheduler's dynamic
  // batcher merges.
  static size_t Bucket(size_t length, size_t max_length);
  struct Group {
    std::vector<size_t> texts;  // indices into the request's texts
    size_t padded_length = 0;
  };
  // Sub-batches for texts of these token lengths: same bucket, at most max_batch_size texts.
  static std::vector<Group> Plan(const std::vector<size_t>& lengths, int64_t max_batch_size,
                                 size_t max_length);

 private:
  TextEncoder() = default;
  StatusOr<std::vector<Tensor>> Inputs(const std::vector<const Encoding*>& batch, size_t padded_length) const;

  std::unique_ptr<Tokenizer> tokenizer_;
  std::string model_;
  std::vector<std::string> inputs_;
  DataType input_dtype_ = DataType::kInt64;
  std::string output_;
  size_t max_length_ = 512;
  int64_t max_batch_size_ = 8;
  TaskLimits limits_;
};

// What the text tasks share: their encoder, the request's text limit and the request schema's
// "text" property.
class TextTask : public Task {
 protected:
  TextTask(std::unique_ptr<TextEncoder> encoder, int64_t max_texts)
      : encoder_(std::move(encoder)), max_texts_(max_texts) {}
  // The request's JSON Schema: "text" (one text, or a list of at most max_texts) and `options`,
  // the task's own properties as JSON members ("top_k":{...}).
  std::string RequestSchema(std::string_view options) const {
    return R"({"type":"object","properties":{"text":{"oneOf":[{"type":"string","minLength":1},)"
           R"({"type":"array","items":{"type":"string","minLength":1},"minItems":1,"maxItems":)" +
           std::to_string(max_texts_) + "}]}," + std::string(options) + R"(},"required":["text"]})";
  }

  std::unique_ptr<TextEncoder> encoder_;
  int64_t max_texts_;
};

// Factories (embeddings.cc, classification.cc).
StatusOr<std::unique_ptr<Task>> MakeEmbeddingsTask(const CatalogEntry& entry, const TaskLimits& limits);
StatusOr<std::unique_ptr<Task>> MakeClassificationTask(const CatalogEntry& entry, const TaskLimits& limits);

}  // namespace continuum::tasks::text
