// Task "text-classification" (Workers AI's @cf/huggingface/distilbert-sst-2-int8 shape).
//
//   request  {"text": "..." | ["...", ...], "top_k": n}
//   result   [{"label": "POSITIVE", "score": 0.98}, {"label": "NEGATIVE", "score": 0.02}]
//            sorted by score; for a list of texts, a list of such lists.
//
// Settings (besides the encoder's, see encoder.h): "labels" (index -> label, from config.json
// id2label; default LABEL_0, LABEL_1, ...), "function" "softmax" (default), "sigmoid"
// (multi-label models) or "none" (raw logits). The output must be [batch, labels] logits.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "tasks/builtin.h"
#include "tasks/text/encoder.h"

namespace continuum::tasks::text {
namespace {

enum class ScoreFunction { kSoftmax, kSigmoid, kNone };

class ClassificationTask final : public TextTask {
 public:
  ClassificationTask(std::unique_ptr<TextEncoder> encoder, std::vector<std::string> labels, ScoreFunction fn,
                     int64_t max_texts)
      : TextTask(std::move(encoder), max_texts), labels_(std::move(labels)), fn_(fn) {}

  StatusOr<TaskResult> Run(const TaskRequest& request, ModelRunner& runner) const override {
    RETURN_IF_ERROR(encoder_->CheckTexts(request));
    size_t top_k = SIZE_MAX;
    if (auto it = request.numbers.find("top_k"); it != request.numbers.end()) {
      if (!(it->second >= 1) || it->second != std::floor(it->second)) {
        return InvalidArgument("top_k: expected a positive integer");
      }
      top_k = it->second > 1e9 ? SIZE_MAX : static_cast<size_t>(it->second);
    }
    TaskResult result;
    ASSIGN_OR_RETURN(auto outputs, encoder_->Run(request.texts, runner, &result.tokens));
    JsonWriter w(&result.result_json);
    if (request.texts_is_array) w.BeginArray();
    for (const auto& o : outputs) {
      if (o.per_token) {
        return Internal("model '" + encoder_->model() +
                        "': expected logits [batch, labels], got a per-token output");
      }
      if (!labels_.empty() && static_cast<size_t>(o.cols) != labels_.size()) {
        return Internal("model '" + encoder_->model() + "' gives " + std::to_string(o.cols) +
                        " scores but the entry has " + std::to_string(labels_.size()) + " labels");
      }
      std::vector<float> scores = Scores(o.values, fn_);
      std::vector<size_t> order(scores.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
      if (order.size() > top_k) order.resize(top_k);
      w.BeginArray();
      for (size_t i : order) {
        std::string label = i < labels_.size() ? labels_[i] : "LABEL_" + std::to_string(i);
        w.BeginObject().Key("label").String(label).Key("score").Float(scores[i]).EndObject();
      }
      w.EndArray();
    }
    if (request.texts_is_array) w.EndArray();
    return result;
  }

  static std::vector<float> Scores(const std::vector<float>& logits, ScoreFunction fn) {
    std::vector<float> s(logits.size());
    if (fn == ScoreFunction::kSoftmax && !logits.empty()) {
      float m = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (size_t i = 0; i < logits.size(); ++i) sum += std::exp(static_cast<double>(logits[i]) - m);
      for (size_t i = 0; i < logits.size(); ++i) {
        s[i] = static_cast<float>(std::exp(static_cast<double>(logits[i]) - m) / sum);
      }
    } else if (fn == ScoreFunction::kSigmoid) {
      for (size_t i = 0; i < logits.size(); ++i)
        s[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double{logits[i]})));
    } else {
      s = logits;
    }
    return s;
  }

  std::string InputSchema() const override {
    return RequestSchema(R"("top_k":{"type":"integer","minimum":1})");
  }
  std::string OutputSchema() const override {
    return R"({"type":"array","items":{"type":"object","properties":{"label":{"type":"string"},)"
           R"("score":{"type":"number"}}}})";
  }

 private:
  std::vector<std::string> labels_;
  ScoreFunction fn_;
};

// Settings "labels" and "function".
Status ReadClassificationSettings(const config::Reader& r, const config::Object& s,
                                  std::vector<std::string>* labels, ScoreFunction* fn) {
  if (auto e = config::Find(s, "labels")) {
    config::Array a;
    if (e->get_array().get(a)) return r.Err("labels", "expected a list of label names");
    for (auto x : a) {
      ASSIGN_OR_RETURN(std::string label, r.String(x, config::Index("labels", labels->size())));
      labels->push_back(std::move(label));
    }
  }
  if (auto e = config::Find(s, "function")) {
    std::string_view f;
    if (e->get_string().get(f) || (f != "softmax" && f != "sigmoid" && f != "none")) {
      return r.Err("function", "expected \"softmax\", \"sigmoid\" or \"none\"");
    }
    *fn = f == "softmax"   ? ScoreFunction::kSoftmax
          : f == "sigmoid" ? ScoreFunction::kSigmoid
                           : ScoreFunction::kNone;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Task>> MakeClassificationTask(const CatalogEntry& entry, const TaskLimits& limits) {
  std::vector<std::string> labels;
  ScoreFunction fn = ScoreFunction::kSoftmax;
  ASSIGN_OR_RETURN(auto encoder, TextEncoder::Create(entry, limits, {"labels", "function"},
                                                     [&](const config::Reader& r, const config::Object& s) {
                                                       return ReadClassificationSettings(r, s, &labels, &fn);
                                                     }));
  return std::unique_ptr<Task>(
      std::make_unique<ClassificationTask>(std::move(encoder), std::move(labels), fn, limits.max_texts));
}

}  // namespace continuum::tasks::text

namespace continuum::tasks {

void RegisterTextTasks(TaskRegistry& registry) {
  registry.Register("text-embeddings", text::MakeEmbeddingsTask);
  registry.Register("text-classification", text::MakeClassificationTask);
}

}  // namespace continuum::tasks
