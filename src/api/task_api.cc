#include "api/task_api.h"

#include <simdjson.h>

#include <cstring>

#include "api/http_status.h"
#include "api/model_search.h"
#include "api/route.h"
#include "common/base64.h"
#include "common/json_writer.h"
#include "common/node_report.h"

namespace continuum {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// `result_info`: a listing's paging (raw JSON), written after the result when given.
http::Response Envelope(int status, std::string_view result_json, const Status& error,
                        std::string_view result_info = {}) {
  http::Response r;
  r.status = status;
  JsonWriter w(&r.body);
  w.BeginObject().Key("result");
  if (error.ok()) {
    w.Raw(result_json);
  } else {
    w.Null();
  }
  if (!result_info.empty()) w.Key("result_info").Raw(result_info);
  w.Key("success").Bool(error.ok()).Key("errors").BeginArray();
  if (!error.ok()) {
    w.BeginObject().Key("code").Int(status).Key("message").String(error.message()).EndObject();
  }
  w.EndArray().Key("messages").BeginArray().EndArray().EndObject();
  if (error.code() == StatusCode::kUnavailable) r.headers.emplace_back("Retry-After", "1");
  return r;
}

http::Response EnvelopeError(const Status& st) { return Envelope(HttpStatusFor(st.code()), "", st); }

// OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
http::Response OpenAiError(const Status& st, std::string_view param = {}) {
  http::Response r;
  r.status = HttpStatusFor(st.code());
  JsonWriter w(&r.body);
  w.BeginObject().Key("error").BeginObject().Key("message").String(st.message());
  w.Key("type").String(r.status >= 500 ? "server_error" : "invalid_request_error");
  w.Key("param");
  if (param.empty()) {
    w.Null();
  } else {
    w.String(param);
  }
  w.Key("code").Null().EndObject().EndObject();
  return r;
}

// The byte limit of a binary field: "image" or "audio".
struct BinaryLimit {
  int64_t max_bytes;
  const char* flag;
};

BinaryLimit LimitFor(std::string_view field, const tasks::TaskLimits& limits) {
  if (field == "audio") return {limits.max_audio_bytes, "--max-audio-bytes"};
  return {limits.max_image_bytes, "--max-image-bytes"};
}

Status TooLarge(std::string_view where, uint64_t bytes, BinaryLimit limit) {
  return PayloadTooLarge(std::string(where) + ": " + std::to_string(bytes) +
                         " bytes, more than the limit of " + std::to_string(limit.max_bytes) + " (" +
                         limit.flag + ")");
}

// A raw body is an audio file when it is a WAV (RIFF....WAVE); anything else goes to the image
// decoders.
bool IsWav(std::string_view body) {
  return body.size() >= 12 && body.substr(0, 4) == "RIFF" && body.substr(8, 4) == "WAVE";
}

StatusOr<std::string> DecodeBinaryField(element v, std::string_view field, const tasks::TaskLimits& limits) {
  const BinaryLimit limit = LimitFor(field, limits);
  if (v.type() == element_type::STRING) {
    std::string_view s = v.get_string().value_unsafe();
    if (auto comma = s.find(','); s.substr(0, 5) == "data:" && comma != std::string_view::npos)
      s = s.substr(comma + 1);
    // What the text decodes to, counted before anything is allocated for it.
    size_t digits = s.size();
    for (int pad = 0; pad < 2 && digits > 0 && s[digits - 1] == '='; ++pad) --digits;
    const uint64_t decoded = static_cast<uint64_t>(digits) / 4 * 3 + (digits % 4 == 0 ? 0 : digits % 4 - 1);
    if (decoded > static_cast<uint64_t>(limit.max_bytes)) return TooLarge(field, decoded, limit);
    auto bytes = Base64Decode(s);
    if (!bytes) return InvalidArgument(std::string(field) + ": not valid base64");
    return std::move(*bytes);
  }
  if (v.type() != element_type::ARRAY) {
    return InvalidArgument(std::string(field) + ": expected an array of bytes (0-255) or a base64 string");
  }
  simdjson::dom::array a = v.get_array().value_unsafe();
  if (a.size() > static_cast<size_t>(limit.max_bytes)) return TooLarge(field, a.size(), limit);
  std::string out;
  out.reserve(a.size());
  size_t i = 0;
  for (element b : a) {
    int64_t x;
    if (b.get_int64().get(x) || x < 0 || x > 255) {
      return InvalidArgument(std::string(field) + "[" + std::to_string(i) + "]: expected an integer 0-255");
    }
    out.push_back(static_cast<char>(x));
    ++i;
  }
  return out;
}

// One text of "text"/"input" (`where` names it), within --max-text-bytes.
Status CheckText(const std::string& where, std::string_view text, const tasks::TaskLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_text_bytes) {
    return PayloadTooLarge(where + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                           std::to_string(limits.max_text_bytes) + " (--max-text-bytes)");
  }
  return Status::Ok();
}

}  // namespace

int64_t TaskRequestBytes(const tasks::TaskRequest& t) {
  size_t n = t.binary.size();
  for (const auto& s : t.texts) n += s.size();
  for (const auto& [k, v] : t.strings) n += k.size() + v.size();
  return static_cast<int64_t>(n);
}

StatusOr<tasks::TaskRequest> DecodeTaskRequest(http::Request&& req, const tasks::TaskLimits& limits) {
  tasks::TaskRequest t;
  const std::string* ctype = req.Header("content-type");
  size_t first = req.body.find_first_not_of(" \t\r\n");
  bool json =
      first != std::string::npos && req.body[first] == '{' &&
      (!ctype || ctype->find("json") != std::string::npos || ctype->find("text/plain") != std::string::npos ||
       ctype->find("x-www-form-urlencoded") != std::string::npos);
  if (!json) {
    if (req.body.empty())
      return InvalidArgument("request body: empty; send JSON, or an image or audio file as the body");
    const bool wav = IsWav(req.body);
    const BinaryLimit limit = LimitFor(wav ? "audio" : "image", limits);
    if (req.body.size() > static_cast<uint64_t>(limit.max_bytes)) {
      return TooLarge(wav ? "request body (audio)" : "request body (image)", req.body.size(), limit);
    }
    t.binary = std::move(req.body);  // an image or audio file sent as the body
    return t;
  }
  simdjson::dom::parser parser;
  if (parser.allocate(req.body.size() + 64, 16)) return Internal("out of memory");
  element root;
  if (auto err = parser.parse(req.body).get(root); err) {
    return InvalidArgument(std::string("request body: invalid JSON: ") + simdjson::error_message(err));
  }
  if (!root.is_object()) return InvalidArgument("request body: expected a JSON object");
  simdjson::dom::object fields = root.get_object().value_unsafe();
  for (auto [key, v] : fields) {
    std::string k(key);
    if (k == "image" || k == "audio") {
      ASSIGN_OR_RETURN(t.binary, DecodeBinaryField(v, k, limits));
    } else if (k == "text" || k == "input") {
      if (v.type() == element_type::STRING) {
        RETURN_IF_ERROR(CheckText(k, v.get_string().value_unsafe(), limits));
        t.texts.emplace_back(v.get_string().value_unsafe());
      } else if (v.type() == element_type::ARRAY) {
        t.texts_is_array = true;
        size_t i = 0;
        simdjson::dom::array list = v.get_array().value_unsafe();
        for (element s : list) {
          std::string_view sv;
          if (s.get_string().get(sv)) {
            return InvalidArgument(k + "[" + std::to_string(i) + "]: expected a string");
          }
          if (static_cast<int64_t>(t.texts.size()) >= limits.max_texts) {
            return InvalidArgument(k + ": more than " + std::to_string(limits.max_texts) + " texts");
          }
          RETURN_IF_ERROR(CheckText(k + "[" + std::to_string(i) + "]", sv, limits));
          t.texts.emplace_back(sv);
          ++i;
        }
      } else {
        return InvalidArgument(k + ": expected a string or an array of strings");
      }
    } else if (v.is_bool()) {
      t.flags[k] = v.get_bool().value_unsafe();
    } else if (v.is_number()) {
      t.numbers[k] = v.get_double().value_unsafe();
    } else if (v.is_string()) {
      t.strings[k] = std::string(v.get_string().value_unsafe());
    } else {
      return InvalidArgument(k + ": unsupported option (expected a string, number or boolean)");
    }
  }
  // The request is all in `t` now: the body must not wait in the queue beside it.
  std::string().swap(req.body);
  return t;
}

TaskApi::TaskApi(const tasks::Catalog* catalog, tasks::ModelRunner* runner, tasks::TaskExecutor* executor,
                 tasks::TaskLimits limits)
    : catalog_(catalog), runner_(runner), executor_(executor), limits_(limits) {}

bool TaskApi::Owns(std::string_view path) { return IsTaskApiRoute(ParseRoute(path).kind); }

void TaskApi::Handle(http::Request&& req, http::Responder respond) {
  const Route route = ParseRoute(req.path);
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  switch (route.kind) {
    case RouteKind::kOpenAiEmbeddings:
      if (!post) return respond(OpenAiError(InvalidArgument("use POST for /v1/embeddings")));
      return Embeddings(std::move(req), std::move(respond));
    case RouteKind::kOpenAiModels:
      if (get) return respond(OpenAiModels());
      break;
    case RouteKind::kOpenAiModel: {
      if (!get) break;
      if (!catalog_->Find(route.model))
        return respond(OpenAiError(NotFound("model '" + route.model + "' not found")));
      http::Response r;
      JsonWriter(&r.body)
          .BeginObject()
          .Key("id")
          .String(route.model)
          .Key("object")
          .String("model")
          .Key("created")
          .Int(0)
          .Key("owned_by")
          .String("continuum")
          .EndObject();
      return respond(std::move(r));
    }
    case RouteKind::kTaskRun:
      if (!post) return respond(EnvelopeError(InvalidArgument("use POST to run a model")));
      return Run(std::move(req), route.model, std::move(respond));
    case RouteKind::kTaskModels:
      if (!get) return respond(EnvelopeError(InvalidArgument("use GET to list models")));
      return respond(ListModels());
    case RouteKind::kTaskModel:
      if (!get) return respond(EnvelopeError(InvalidArgument("use GET to list models")));
      return respond(DescribeModel(route.model));
    case RouteKind::kTaskModelSearch: {
      // Workers AI's model search (Cloudflare's clients list models with it); never a model name.
      if (!get) return respond(EnvelopeError(InvalidArgument("use GET to list models")));
      auto page = SearchModels(*catalog_, req.query);
      if (!page.ok()) return respond(EnvelopeError(page.status()));
      return respond(Envelope(200, page->result_json, Status::Ok(), page->result_info_json));
    }
    default: break;
  }
  if (route.kind == RouteKind::kOpenAiModels || route.kind == RouteKind::kOpenAiModel ||
      route.kind == RouteKind::kOpenAiOther) {
    return respond(OpenAiError(NotFound("no route for " + req.method + " " + req.path)));
  }
  respond(EnvelopeError(NotFound("no route for " + req.method + " " + req.path)));
}

void TaskApi::Run(http::Request&& req, const std::string& model, http::Responder respond) {
  const tasks::Catalog::Item* item = catalog_->Find(model);
  if (!item)
    return respond(EnvelopeError(NotFound("unknown model '" + model + "' (GET /ai/models lists them)")));
  if (!item->task)
    return respond(EnvelopeError(Unavailable("model '" + model + "' is not available: " + item->error)));
  // Every byte limit is checked here, on the I/O thread, before the request can wait in the queue.
  auto decoded = DecodeTaskRequest(std::move(req), limits_);
  if (!decoded.ok()) return respond(EnvelopeError(decoded.status()));
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  auto request = std::make_shared<tasks::TaskRequest>(std::move(decoded).value());
  const int64_t bytes = TaskRequestBytes(*request);
  const auto submitted = std::chrono::steady_clock::now();
  Status st = executor_->Submit(
      [this, item, request, shared_respond, submitted] {
        // A task's run is all of it once it leaves the task queue: pre-processing, its model runs
        // (with their own queues) and post-processing; it uses that time alone.
        const auto started = std::chrono::steady_clock::now();
        auto result = item->task->Run(*request, *runner_);
        if (!result.ok()) return (*shared_respond)(EnvelopeError(result.status()));
        http::Response r = Envelope(200, result->result_json, Status::Ok());
        const auto now = std::chrono::steady_clock::now();
        AddNodeReport(&r.headers, now - submitted, executor_->queued(), now - started, 1.0);
        (*shared_respond)(std::move(r));
      },
      bytes);
  if (!st.ok()) (*shared_respond)(EnvelopeError(st));
}

void TaskApi::Embeddings(http::Request&& req, http::Responder respond) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(req.body).get(root); err) {
    return respond(
        OpenAiError(InvalidArgument(std::string("invalid JSON: ") + simdjson::error_message(err))));
  }
  std::string_view model;
  if (root["model"].get_string().get(model))
    return respond(OpenAiError(InvalidArgument("'model' is required"), "model"));
  const tasks::Catalog::Item* item = catalog_->Find(model);
  if (!item) return respond(OpenAiError(NotFound("model '" + std::string(model) + "' not found"), "model"));
  if (item->entry.task != "text-embeddings") {
    return respond(OpenAiError(InvalidArgument("model '" + std::string(model) + "' serves '" +
                                               item->entry.task + "', not text-embeddings"),
                               "model"));
  }
  if (!item->task)
    return respond(
        OpenAiError(Unavailable("model '" + std::string(model) + "' is not available: " + item->error)));
  bool base64 = false;
  std::string_view fmt;
  if (!root["encoding_format"].get_string().get(fmt)) {
    if (fmt == "base64") {
      base64 = true;
    } else if (fmt != "float") {
      return respond(
          OpenAiError(InvalidArgument("encoding_format must be 'float' or 'base64'"), "encoding_format"));
    }
  }
  auto request = std::make_shared<tasks::TaskRequest>();
  element input;
  if (root["input"].get(input)) return respond(OpenAiError(InvalidArgument("'input' is required"), "input"));
  if (input.is_string()) {
    if (Status st = CheckText("input", input.get_string().value_unsafe(), limits_); !st.ok())
      return respond(OpenAiError(st, "input"));
    request->texts.emplace_back(input.get_string().value_unsafe());
  } else if (input.is_array()) {
    request->texts_is_array = true;
    size_t i = 0;
    simdjson::dom::array list = input.get_array().value_unsafe();
    for (element s : list) {
      std::string_view sv;
      if (s.get_string().get(sv)) {
        return respond(OpenAiError(InvalidArgument("input[" + std::to_string(i) +
                                                   "]: expected a string (token arrays are not supported)"),
                                   "input"));
      }
      if (static_cast<int64_t>(request->texts.size()) >= limits_.max_texts) {
        return respond(OpenAiError(
            InvalidArgument("'input' has more than " + std::to_string(limits_.max_texts) + " texts"),
            "input"));
      }
      if (Status st = CheckText("input[" + std::to_string(i) + "]", sv, limits_); !st.ok())
        return respond(OpenAiError(st, "input"));
      request->texts.emplace_back(sv);
      ++i;
    }
  } else {
    return respond(OpenAiError(InvalidArgument("'input' must be a string or an array of strings"), "input"));
  }
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  std::string model_name(model);
  Status st = executor_->Submit(
      [this, item, request, shared_respond, base64, model_name] {
        auto result = item->task->Run(*request, *runner_);
        if (!result.ok()) return (*shared_respond)(OpenAiError(result.status()));
        http::Response r;
        JsonWriter w(&r.body);
        w.BeginObject().Key("object").String("list").Key("data").BeginArray();
        for (size_t i = 0; i < result->embeddings.size(); ++i) {
          const auto& e = result->embeddings[i];
          w.BeginObject().Key("object").String("embedding").Key("index").Uint(i).Key("embedding");
          if (base64) {
            w.String(Base64Encode(
                std::string_view(reinterpret_cast<const char*>(e.data()), e.size() * sizeof(float))));
          } else {
            w.BeginArray();
            for (float f : e) w.Float(f);
            w.EndArray();
          }
          w.EndObject();
        }
        w.EndArray().Key("model").String(model_name).Key("usage").BeginObject();
        w.Key("prompt_tokens")
            .Int(result->tokens)
            .Key("total_tokens")
            .Int(result->tokens)
            .EndObject()
            .EndObject();
        (*shared_respond)(std::move(r));
      },
      TaskRequestBytes(*request));
  if (!st.ok()) (*shared_respond)(OpenAiError(st));
}

namespace {
void WriteEntry(JsonWriter& w, const tasks::Catalog::Item& item) {
  const auto& e = item.entry;
  w.BeginObject()
      .Key("name")
      .String(e.name)
      .Key("task")
      .String(e.task)
      .Key("description")
      .String(e.description);
  w.Key("license").String(e.license).Key("source").String(e.source);
  w.Key("available").Bool(item.task != nullptr);
  if (!item.error.empty()) w.Key("error").String(item.error);
  if (item.task) {
    w.Key("input_schema").Raw(item.task->InputSchema());
    w.Key("output_schema").Raw(item.task->OutputSchema());
  }
  w.EndObject();
}
}  // namespace

http::Response TaskApi::ListModels() const {
  std::string result;
  JsonWriter w(&result);
  w.BeginArray();
  for (const auto& item : catalog_->items()) WriteEntry(w, item);
  w.EndArray();
  return Envelope(200, result, Status::Ok());
}

http::Response TaskApi::DescribeModel(const std::string& model) const {
  const tasks::Catalog::Item* item = catalog_->Find(model);
  if (!item) return EnvelopeError(NotFound("unknown model '" + model + "'"));
  std::string result;
  JsonWriter w(&result);
  WriteEntry(w, *item);
  return Envelope(200, result, Status::Ok());
}

http::Response TaskApi::OpenAiModels() const {
  http::Response r;
  JsonWriter w(&r.body);
  w.BeginObject().Key("object").String("list").Key("data").BeginArray();
  for (const auto& item : catalog_->items()) {
    if (!item.task) continue;
    w.BeginObject().Key("id").String(item.entry.name).Key("object").String("model").Key("created").Int(0);
    w.Key("owned_by").String("continuum").EndObject();
  }
  w.EndArray().EndObject();
  return r;
}

}  // namespace continuum
