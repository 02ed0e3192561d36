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

}  // namespace

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
  const CancelToken cancel = req.cancel;  // DecodeTaskRequest takes the request
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
      bytes, cancel);
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
    if (Status st = CheckTaskText("input", input.get_string().value_unsafe(), limits_); !st.ok())
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
      if (Status st = CheckTaskText("input[" + std::to_string(i) + "]", sv, limits_); !st.ok())
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
      TaskRequestBytes(*request), req.cancel);
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
