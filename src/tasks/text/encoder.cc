#include "tasks/text/encoder.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <future>
#include <numeric>

#include "common/config_reader.h"

namespace continuum::tasks::text {
namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;
using simdjson::dom::object;

StatusOr<std::vector<float>> ToFloats(const Tensor& t) {
  const int64_t n = t.NumElements();
  std::vector<float> v(static_cast<size_t>(n));
  const char* p = t.data.data();
  switch (t.dtype) {
    case DataType::kFp32: std::memcpy(v.data(), p, v.size() * 4); break;
    case DataType::kFp16:
    case DataType::kBf16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        v[i] = t.dtype == DataType::kFp16 ? HalfToFloat(h) : Bf16ToFloat(h);
      }
      break;
    case DataType::kFp64:
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        v[i] = static_cast<float>(d);
      }
      break;
    default:
      return Internal("model output '" + t.name + "' is " + std::string(DataTypeName(t.dtype)) +
                      "; a floating-point output is needed");
  }
  return v;
}

}  // namespace

StatusOr<std::unique_ptr<TextEncoder>> TextEncoder::Create(const CatalogEntry& entry,
                                                           const TaskLimits& limits,
                                                           const std::set<std::string>& extra_keys,
                                                           const ReadTaskSettings& read_task) {
  std::unique_ptr<TextEncoder> enc(new TextEncoder());
  enc->limits_ = limits;
  config::Reader r("settings.");
  object s;
  RETURN_IF_ERROR(r.Parse(entry.SettingsJson(), &s));
  static const std::set<std::string> kKnown = {"tokenizer", "lowercase",   "strip_accents", "max_length",
                                               "inputs",    "input_dtype", "output",        "max_batch_size"};
  for (auto [k, _] : s) {
    if (!kKnown.contains(std::string(k)) && !extra_keys.contains(std::string(k))) {
      return r.Err(k, "unknown setting");
    }
  }
  auto get_int = [&](std::string_view key, int64_t def, int64_t min, int64_t max) -> StatusOr<int64_t> {
    auto e = config::Find(s, key);
    if (!e) return def;
    return r.Int(*e, key, min, max);
  };
  auto get_string = [&](std::string_view key, std::string def) -> StatusOr<std::string> {
    auto e = config::Find(s, key);
    if (!e) return def;
    return r.String(*e, key);
  };

  // The model.
  if (auto it = entry.models.find("encoder"); it != entry.models.end()) {
    enc->model_ = it->second;
  } else if (entry.models.size() == 1) {
    enc->model_ = entry.models.begin()->second;
  } else {
    return InvalidArgument("models: expected {\"encoder\": <repository model>}");
  }

  // The tokenizer.
  std::error_code ec;
  ASSIGN_OR_RETURN(
      std::string tok,
      get_string("tokenizer", fs::exists(entry.dir / "tokenizer.json", ec) ? "tokenizer.json" : "vocab.txt"));
  fs::path tok_path(tok);
  if (tok.empty() || tok_path.is_absolute() || tok_path.filename() != tok_path) {
    return r.Err("tokenizer", "must be a file name beside catalog.json");
  }
  ASSIGN_OR_RETURN(fs::path tok_real, entry.Asset("tokenizer", tok));
  VocabTxtOptions vo;
  if (auto e = config::Find(s, "lowercase")) {
    ASSIGN_OR_RETURN(vo.lowercase, r.Bool(*e, "lowercase"));
  }
  if (auto e = config::Find(s, "strip_accents")) {
    ASSIGN_OR_RETURN(vo.strip_accents, r.Bool(*e, "strip_accents"));
  }
  // The format follows the name in settings, not the name the file really has.
  std::ifstream in(tok_real, std::ios::binary);
  if (!in) return NotFound("settings.tokenizer: cannot read " + tok_real.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto t = tok_path.extension() == ".json" ? Tokenizer::FromHuggingFaceJson(text)
                                           : Tokenizer::FromVocabTxt(text, vo);
  if (!t.ok()) return t.status().WithContext(tok);
  enc->tokenizer_ = std::move(t).value();

  ASSIGN_OR_RETURN(int64_t max_length, get_int("max_length", 512, 2, 1 << 20));
  enc->max_length_ = static_cast<size_t>(max_length);
  ASSIGN_OR_RETURN(enc->max_batch_size_, get_int("max_batch_size", 8, 1, 4096));
  ASSIGN_OR_RETURN(enc->output_, get_string("output", ""));
  ASSIGN_OR_RETURN(std::string dtype, get_string("input_dtype", "INT64"));
  if (dtype == "INT64") {
    enc->input_dtype_ = DataType::kInt64;
  } else if (dtype == "INT32") {
    enc->input_dtype_ = DataType::kInt32;
  } else {
    return r.Err("input_dtype", "expected \"INT64\" or \"INT32\"");
  }
  if (auto e = config::Find(s, "inputs")) {
    simdjson::dom::array a;
    if (e->get_array().get(a) || a.size() == 0) return r.Err("inputs", "expected a list of input names");
    for (element x : a) {
      std::string_view name;
      if (x.get_string().get(name)) return r.Err("inputs", "expected a list of input names");
      if (name != "input_ids" && name != "attention_mask" && name != "token_type_ids" &&
          name != "position_ids") {
        return r.Err("inputs", "'" + std::string(name) +
                                   "' is not an input this task can fill (input_ids, attention_mask, "
                                   "token_type_ids, position_ids)");
      }
      enc->inputs_.emplace_back(name);
    }
  } else {
    enc->inputs_ = {"input_ids", "attention_mask", "token_type_ids"};
  }
  if (read_task) RETURN_IF_ERROR(read_task(r, s));
  return enc;
}

Status TextEncoder::CheckTexts(const TaskRequest& request) const {
  const auto& texts = request.texts;
  if (texts.empty()) return InvalidArgument("text: required (a string or a list of strings)");
  if (static_cast<int64_t>(texts.size()) > limits_.max_texts) {
    return InvalidArgument("text: at most " + std::to_string(limits_.max_texts) + " texts per request, got " +
                           std::to_string(texts.size()));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    std::string where = request.texts_is_array ? "text[" + std::to_string(i) + "]" : "text";
    if (texts[i].empty()) return InvalidArgument(where + ": empty");
    if (static_cast<int64_t>(texts[i].size()) > limits_.max_text_bytes) {
      return InvalidArgument(where + ": " + std::to_string(texts[i].size()) + " bytes, over the limit of " +
                             std::to_string(limits_.max_text_bytes));
    }
  }
  return Status::Ok();
}

size_t TextEncoder::Bucket(size_t length, size_t max_length) {
  size_t octave = std::bit_floor(std::max<size_t>(length, 1));  // 8 buckets per doubling, at least 4 apart
  size_t step = std::max<size_t>(4, octave / 8);
  size_t b = std::max<size_t>((length + step - 1) / step * step, step);
  return std::max(length, std::min(b, max_length));
}

std::vector<TextEncoder::Group> TextEncoder::Plan(const std::vector<size_t>& lengths, int64_t max_batch_size,
                                                  size_t max_length) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<Group> plan;
  for (size_t i : order) {
    size_t bucket = Bucket(lengths[i], max_length);
    if (plan.empty() || plan.back().padded_length != bucket ||
        static_cast<int64_t>(plan.back().texts.size()) >= max_batch_size) {
      plan.push_back({{}, bucket});
    }
    plan.back().texts.push_back(i);
  }
  return plan;
}

StatusOr<std::vector<Tensor>> TextEncoder::Inputs(const std::vector<const Encoding*>& batch,
                                                  size_t padded_length) const {
  const int64_t rows = static_cast<int64_t>(batch.size());
  int64_t cols = static_cast<int64_t>(padded_length);
  for (const Encoding* e : batch) cols = std::max<int64_t>(cols, static_cast<int64_t>(e->ids.size()));
  const size_t esize = ElementSize(input_dtype_);
  std::vector<Tensor> out;
  for (const auto& name : inputs_) {
    Tensor t{name, input_dtype_, {rows, cols}, std::string(static_cast<size_t>(rows * cols) * esize, '\0')};
    auto put = [&](int64_t r, int64_t c, int64_t v) {
      char* dst = t.data.data() + static_cast<size_t>(r * cols + c) * esize;
      if (input_dtype_ == DataType::kInt64) {
        std::memcpy(dst, &v, 8);
      } else {
        int32_t v32 = static_cast<int32_t>(v);
        std::memcpy(dst, &v32, 4);
      }
    };
    for (int64_t r = 0; r < rows; ++r) {
      const Encoding& e = *batch[r];
      const int64_t len = static_cast<int64_t>(e.ids.size());
      for (int64_t c = 0; c < cols; ++c) {
        int64_t v = 0;
        if (name == "input_ids") {
          v = c < len ? e.ids[c] : tokenizer_->pad_id();
        } else if (name == "attention_mask") {
          v = c < len ? 1 : 0;
        } else if (name == "token_type_ids") {
          v = c < len ? e.type_ids[c] : 0;
        } else {  // position_ids
          v = c;
        }
        if (v != 0) put(r, c, v);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

StatusOr<std::vector<TextOutput>> TextEncoder::Run(const std::vector<std::string>& texts, ModelRunner& runner,
                                                   int64_t* tokens) const {
  std::vector<Encoding> enc;
  enc.reserve(texts.size());
  std::vector<size_t> lengths;
  int64_t total = 0;
  for (const auto& t : texts) {
    enc.push_back(tokenizer_->Encode(t, max_length_));
    lengths.push_back(enc.back().ids.size());
    total += static_cast<int64_t>(enc.back().ids.size());
  }
  if (tokens) *tokens = total;

  auto plan = Plan(lengths, max_batch_size_, max_length_);
  std::vector<std::future<StatusOr<std::vector<Tensor>>>> pending;
  pending.reserve(plan.size());
  std::vector<std::string> outputs;
  if (!output_.empty()) outputs.push_back(output_);
  for (const auto& group : plan) {
    std::vector<const Encoding*> batch;
    for (size_t i : group.texts) batch.push_back(&enc[i]);
    ASSIGN_OR_RETURN(auto inputs, Inputs(batch, group.padded_length));
    pending.push_back(runner.RunAsync(model_, std::move(inputs), outputs));
  }

  std::vector<TextOutput> result(texts.size());
  Status first_error;
  for (size_t g = 0; g < plan.size(); ++g) {
    auto r = pending[g].get();  // wait for every sub-batch, even after an error
    if (!first_error.ok()) continue;
    if (!r.ok()) {
      first_error = r.status().WithContext("model '" + model_ + "'");
      continue;
    }
    const Tensor* out = nullptr;
    for (const auto& t : *r) {
      if (output_.empty() || t.name == output_) {
        out = &t;
        break;
      }
    }
    const auto& group = plan[g].texts;
    const int64_t rows = static_cast<int64_t>(group.size());
    if (!out || (out->shape.size() != 2 && out->shape.size() != 3) || out->shape[0] != rows) {
      first_error =
          Internal("model '" + model_ + "': expected an output [batch, tokens, hidden] or [batch, n]" +
                   (out ? ", got " + ShapeToString(out->shape) : std::string(", got none")));
      continue;
    }
    auto values = ToFloats(*out);
    if (!values.ok()) {
      first_error = values.status();
      continue;
    }
    const bool per_token = out->shape.size() == 3;
    const int64_t seq = per_token ? out->shape[1] : 1;
    const int64_t cols = out->shape.back();
    for (int64_t r = 0; r < rows; ++r) {
      size_t i = group[r];
      TextOutput& o = result[i];
      o.per_token = per_token;
      o.cols = cols;
      o.rows = per_token ? std::min<int64_t>(seq, static_cast<int64_t>(lengths[i])) : 1;
      const float* src = values->data() + r * seq * cols;
      o.values.assign(src, src + o.rows * cols);
    }
  }
  if (!first_error.ok()) return first_error;
  return result;
}

}  // namespace continuum::tasks::text
