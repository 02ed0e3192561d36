// Task "text-embeddings" (Workers AI's @cf/baai/bge-* shape): texts in, one vector each out.
//
//   request  {"text": "..." | ["...", ...], "pooling": "mean" | "cls"}
//   result   {"shape": [n, d], "data": [[...], ...], "pooling": "mean"}
//
// Settings (besides the encoder's, see encoder.h): "pooling" "mean" (masked mean over the
// text's tokens, the default) or "cls" (the first token); "normalize" (L2, default true). A
// model whose output is already one vector per text ([batch, d], e.g. a sentence-transformers
// export's sentence_embedding) is not pooled again.
#include <cmath>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "tasks/text/encoder.h"

namespace continuum::tasks::text {
namespace {

enum class Pooling { kMean, kCls };

std::string_view PoolingName(Pooling p) { return p == Pooling::kMean ? "mean" : "cls"; }

class EmbeddingsTask final : public TextTask {
 public:
  EmbeddingsTask(std::unique_ptr<TextEncoder> encoder, Pooling pooling, bool normalize, int64_t max_texts)
      : TextTask(std::move(encoder), max_texts), pooling_(pooling), normalize_(normalize) {}

  StatusOr<TaskResult> Run(const TaskRequest& request, ModelRunner& runner) const override {
    RETURN_IF_ERROR(encoder_->CheckTexts(request));
    Pooling pooling = pooling_;
    if (auto it = request.strings.find("pooling"); it != request.strings.end()) {
      if (it->second == "mean") {
        pooling = Pooling::kMean;
      } else if (it->second == "cls") {
        pooling = Pooling::kCls;
      } else {
        return InvalidArgument("pooling: expected \"mean\" or \"cls\", got \"" + it->second + "\"");
      }
    }
    TaskResult result;
    ASSIGN_OR_RETURN(auto outputs, encoder_->Run(request.texts, runner, &result.tokens));
    result.embeddings.reserve(outputs.size());
    for (const auto& o : outputs) result.embeddings.push_back(Pool(o, pooling, normalize_));

    const size_t dim = result.embeddings.empty() ? 0 : result.embeddings[0].size();
    std::string& json = result.result_json;
    json.reserve(outputs.size() * dim * 12 + 64);
    JsonWriter w(&json);
    w.BeginObject().Key("shape").BeginArray().Uint(outputs.size()).Uint(dim).EndArray();
    w.Key("data").BeginArray();
    for (const auto& v : result.embeddings) {
      w.BeginArray();
      for (float x : v) w.Float(x);
      w.EndArray();
    }
    w.EndArray().Key("pooling").String(PoolingName(pooling)).EndObject();
    return result;
  }

  // Pools one text's output (padding already removed) and L2-normalizes it.
  static std::vector<float> Pool(const TextOutput& o, Pooling pooling, bool normalize) {
    std::vector<float> v(static_cast<size_t>(o.cols), 0.0f);
    if (!o.per_token || pooling == Pooling::kCls || o.rows <= 1) {
      std::copy(o.values.begin(), o.values.begin() + o.cols, v.begin());
    } else {
      std::vector<double> sum(v.size(), 0.0);
      for (int64_t r = 0; r < o.rows; ++r) {
        const float* row = o.values.data() + r * o.cols;
        for (int64_t c = 0; c < o.cols; ++c) sum[c] += row[c];
      }
      for (size_t c = 0; c < v.size(); ++c) v[c] = static_cast<float>(sum[c] / static_cast<double>(o.rows));
    }
    if (normalize) {
      double norm = 0;
      for (float x : v) norm += static_cast<double>(x) * x;
      norm = std::sqrt(norm);
      if (norm > 1e-12) {
        for (float& x : v) x = static_cast<float>(x / norm);
      }
    }
    return v;
  }

  std::string InputSchema() const override {
    return RequestSchema(R"("pooling":{"type":"string","enum":["mean","cls"]})");
  }
  std::string OutputSchema() const override {
    return R"({"type":"object","properties":{"shape":{"type":"array","items":{"type":"number"}},)"
           R"("data":{"type":"array","items":{"type":"array","items":{"type":"number"}}},)"
           R"("pooling":{"type":"string","enum":["mean","cls"]}}})";
  }

 private:
  Pooling pooling_;
  bool normalize_;
};

}  // namespace

StatusOr<std::unique_ptr<Task>> MakeEmbeddingsTask(const CatalogEntry& entry, const TaskLimits& limits) {
  Pooling pooling = Pooling::kMean;
  bool normalize = true;
  auto read = [&](const config::Reader& r, const config::Object& s) -> Status {
    if (auto e = config::Find(s, "pooling")) {
      std::string_view p;
      if (e->get_string().get(p) || (p != "mean" && p != "cls")) {
        return r.Err("pooling", "expected \"mean\" or \"cls\"");
      }
      pooling = p == "mean" ? Pooling::kMean : Pooling::kCls;
    }
    if (auto e = config::Find(s, "normalize")) {
      ASSIGN_OR_RETURN(normalize, r.Bool(*e, "normalize"));
    }
    return Status::Ok();
  };
  ASSIGN_OR_RETURN(auto encoder, TextEncoder::Create(entry, limits, {"pooling", "normalize"}, read));
  return std::unique_ptr<Task>(
      std::make_unique<EmbeddingsTask>(std::move(encoder), pooling, normalize, limits.max_texts));
}

}  // namespace continuum::tasks::text
