#include "api/v2_api.h"

#include <simdjson.h>

#include <charconv>
#include <chrono>

#include "api/content_coding.h"
#include "api/http_status.h"
#include "api/route.h"
#include "common/json_writer.h"
#include "common/node_report.h"
#include "packages/provenance.h"

namespace continuum {

namespace {

StatusOr<int64_t> ParseVersion(std::string_view s) {
  if (auto v = ParseModelVersion(s)) return *v;
  return InvalidArgument("model version '" + std::string(s) + "' is not a positive integer");
}

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

void WriteTensorSpecs(JsonWriter& w, const char* key, const std::vector<runtime::TensorSpec>& specs) {
  w.Key(key).BeginArray();
  for (const auto& s : specs) {
    w.BeginObject().Key("name").String(s.name).Key("datatype").String(DataTypeName(s.dtype));
    w.Key("shape").BeginArray();
    for (int64_t d : s.shape) w.Int(d);
    w.EndArray().EndObject();
  }
  w.EndArray();
}

// The install record of the package `mv` was loaded from: the record in its own folder when the
// model is a package symlink (a newer package on disk that failed to load is not what is served),
// else the repository's.
StatusOr<packages::InstallRecord> LoadedRecord(const ModelRepository& repository, const ModelVersion& mv) {
  std::filesystem::path source(mv.source_dir());
  if (!source.empty() && source.parent_path().filename() == packages::kPackagesDir)
    return packages::ReadInstallRecord(source.parent_path(), source.filename().string());
  return packages::ReadInstallRecord(repository.root(), mv.name());
}

}  // namespace

V2Api::V2Api(V2ApiOptions options, ModelRepository* repository, telemetry::Registry* registry)
    : options_(std::move(options)), repository_(repository), registry_(registry) {
  // Which package each served model was installed from (`continuum install`), read from the
  // repository at scrape time.
  registry_->AddCallbackFamily("continuum_model_package_info",
                               "The package a served model version was installed from (always 1)", false,
                               {"model", "version", "reference", "digest", "variant"}, [repository] {
                                 std::vector<telemetry::Registry::Sample> samples;
                                 for (const auto& mv : repository->AllReady()) {
                                   auto record = LoadedRecord(*repository, *mv);
                                   if (!record.ok()) continue;
                                   samples.push_back({{mv->name(), std::to_string(mv->version()),
                                                       record->reference, record->digest, record->variant},
                                                      1});
                                 }
                                 return samples;
                               });
}

http::Response V2Api::ErrorResponse(const Status& status) const {
  http::Response r;
  r.status = HttpStatusFor(status.code());
  r.body = v2::ErrorBody(status.message());
  if (status.code() == StatusCode::kUnavailable) {
    r.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_seconds));
  }
  return r;
}

void V2Api::Handle(http::Request&& req, http::Responder respond) {
  const Route route = ParseRoute(req.path);
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  auto method_not_allowed = [&](const char* allow) {
    http::Response r =
        ErrorResponse(InvalidArgument("method " + req.method + " is not allowed on " + req.path));
    r.status = 405;
    r.headers.emplace_back("Allow", allow);
    respond(std::move(r));
  };
  auto not_found = [&] { respond(ErrorResponse(NotFound("no route for " + req.method + " " + req.path))); };
  // A compressed body (Content-Encoding: gzip or deflate) is inflated here, within
  // max_decoded_body_bytes, before any route reads it; Inference-Header-Content-Length counts
  // the inflated bytes, as in Triton.
  if (const std::string* ce = req.Header("content-encoding"); ce && !req.body.empty()) {
    auto coding = v2::ParseContentEncoding(*ce);
    if (!coding.ok()) return respond(ErrorResponse(coding.status()));
    if (*coding != v2::ContentCoding::kIdentity) {
      auto decoded = v2::DecodeBody(req.body, *coding, options_.max_decoded_body_bytes);
      if (!decoded.ok()) {
        Status st = decoded.status();
        if (st.code() == StatusCode::kPayloadTooLarge)
          st = PayloadTooLarge(st.message() + " (--max-body-bytes)");
        return respond(ErrorResponse(st));
      }
      req.body = std::move(decoded).value();
    }
  }

  switch (route.kind) {
    case RouteKind::kMetrics: {
      if (!get) return method_not_allowed("GET");
      http::Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = registry_->Render();
      return respond(std::move(r));
    }
    case RouteKind::kV2Server: {
      if (!get) return method_not_allowed("GET");
      std::string body;
      JsonWriter w(&body);
      w.BeginObject().Key("name").String(options_.server_name).Key("version").String(options_.server_version);
      w.Key("extensions").BeginArray().String("binary_tensor_data").String("model_repository");
      w.String("statistics").String("model_configuration").EndArray().EndObject();
      return respond(Json(200, std::move(body)));
    }
    case RouteKind::kV2Health:
      if (!get) return method_not_allowed("GET");
      if (route.action == "live") return respond(Json(200, R"({"live":true})"));
      if (route.action == "ready") {
        bool ready = !shutting_down_.load() && repository_->Ready();
        return respond(Json(ready ? 200 : 400, ready ? R"({"ready":true})" : R"({"ready":false})"));
      }
      return not_found();
    case RouteKind::kV2RepositoryIndex:
      if (!post) return method_not_allowed("POST");
      return respond(RepositoryIndex(req));
    case RouteKind::kV2RepositoryModel:
      if (!post) return method_not_allowed("POST");
      return respond(RepositoryLoad(req, route.model, route.action == "load"));
    case RouteKind::kV2AllStats:
      if (!get) return method_not_allowed("GET");
      return respond(Stats("", -1));
    case RouteKind::kV2Model:
    case RouteKind::kV2ModelAction:
    case RouteKind::kV2Infer:
    case RouteKind::kV2ModelOther: break;
    default: return not_found();
  }

  // /v2/models/{m}[/versions/{v}][/action]
  int64_t version = -1;
  if (!route.version.empty()) {
    auto v = ParseVersion(route.version);
    if (!v.ok()) return respond(ErrorResponse(v.status()));
    version = *v;
  }
  if (route.kind == RouteKind::kV2ModelOther) return not_found();
  if (route.kind == RouteKind::kV2Model) {
    if (!get) return method_not_allowed("GET");
    return respond(ModelMetadata(route.model, version));
  }
  if (route.kind == RouteKind::kV2Infer) {
    if (!post) return method_not_allowed("POST");
    return Infer(std::move(req), route.model, version, std::move(respond));
  }
  if (!get) return method_not_allowed("GET");
  if (route.action == "ready") return respond(ModelReady(route.model, version));
  if (route.action == "stats") return respond(Stats(route.model, version));
  if (route.action == "config") return respond(ModelConfigJson(route.model, version));
  return not_found();
}

void V2Api::Infer(http::Request&& req, const std::string& model, int64_t version, http::Responder respond) {
  if (shutting_down_.load()) return respond(ErrorResponse(Unavailable("the server is shutting down")));
  auto mv = repository_->Get(model, version);
  if (!mv.ok()) return respond(ErrorResponse(mv.status()));

  std::optional<size_t> json_length;
  if (const std::string* h = req.Header("inference-header-content-length")) {
    size_t n = 0;
    auto r = std::from_chars(h->data(), h->data() + h->size(), n);
    if (r.ec != std::errc() || r.ptr != h->data() + h->size()) {
      return respond(ErrorResponse(InvalidArgument("header Inference-Header-Content-Length: '" + *h +
                                                   "' is not a non-negative integer")));
    }
    json_length = n;
  }
  auto parsed = v2::ParseInferRequest(req.body, json_length, options_.codec_limits);
  if (!parsed.ok()) {
    (*mv)->stats().RecordFailure(FailureReason::kRejected, 0);
    return respond(ErrorResponse(parsed.status()));
  }
  // The request body is no longer needed: free it before the request waits in the queue.
  std::string().swap(req.body);
  parsed->cancel = req.cancel;  // a client that goes away takes its request out of the queue

  // Accept-Encoding: the answer is compressed on the instance thread, after it is encoded.
  v2::ContentCoding coding = v2::ContentCoding::kIdentity;
  if (const std::string* ae = req.Header("accept-encoding")) coding = v2::NegotiateCoding(*ae);

  // The callback must not own the ModelVersion: it runs on the version's own scheduler thread.
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  // The version outlives its callbacks (it answers what it queued before it goes away), so the
  // callback may read its queue through a plain pointer.
  ModelVersion* version_ptr = mv->get();
  const auto enqueued = std::chrono::steady_clock::now();
  Status st = (*mv)->Infer(std::move(parsed).value(), [this, shared_respond, version_ptr, enqueued,
                                                       coding](StatusOr<InferResponse> result) {
    if (!result.ok()) return (*shared_respond)(ErrorResponse(result.status()));
    v2::EncodedResponse enc = v2::EncodeInferResponse(*result);
    http::Response r;
    r.body = std::move(enc.body);
    if (enc.json_length) {
      r.content_type = "application/octet-stream";
      r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*enc.json_length));
    }
    if (coding != v2::ContentCoding::kIdentity) {
      // Inference-Header-Content-Length still counts the JSON header before compression.
      if (auto compressed = v2::EncodeBody(r.body, coding); compressed.ok()) {
        r.body = std::move(compressed).value();
        r.headers.emplace_back("Content-Encoding", v2::ContentCodingName(coding));
      }
      r.headers.emplace_back("Vary", "Accept-Encoding");
    }
    AddNodeReport(&r.headers, std::chrono::steady_clock::now() - enqueued, version_ptr->queued(),
                  std::chrono::nanoseconds(result->run_ns), result->batch_share);
    (*shared_respond)(std::move(r));
  });
  if (!st.ok()) (*shared_respond)(ErrorResponse(st));
}

http::Response V2Api::ModelMetadata(const std::string& model, int64_t version) {
  auto mv = repository_->Get(model, version);
  if (!mv.ok()) return ErrorResponse(mv.status());
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("name").String(model).Key("versions").BeginArray();
  if (version > 0) {
    w.String(std::to_string(version));
  } else {
    for (const auto& v : repository_->ReadyVersions(model)) w.String(std::to_string(v->version()));
  }
  w.EndArray().Key("platform").String("onnxruntime_onnx");
  WriteTensorSpecs(w, "inputs", (*mv)->signature().inputs);
  WriteTensorSpecs(w, "outputs", (*mv)->signature().outputs);
  w.EndObject();
  return Json(200, std::move(body));
}

http::Response V2Api::ModelReady(const std::string& model, int64_t version) {
  auto mv = repository_->Get(model, version);
  if (!mv.ok()) {
    // A known model whose version is not ready answers {"ready": false}; an unknown one 404.
    bool known = false;
    for (const auto& e : repository_->Index(false)) known = known || e.name == model;
    if (!known) return ErrorResponse(mv.status());
    std::string body;
    JsonWriter(&body).BeginObject().Key("name").String(model).Key("ready").Bool(false).EndObject();
    return Json(400, std::move(body));
  }
  std::string body;
  JsonWriter(&body).BeginObject().Key("name").String(model).Key("ready").Bool(true).EndObject();
  return Json(200, std::move(body));
}

http::Response V2Api::ModelConfigJson(const std::string& model, int64_t version) {
  auto mv = repository_->Get(model, version);
  if (!mv.ok()) return ErrorResponse(mv.status());
  std::string body = ModelConfigToJson((*mv)->config());
  // Add what the node decided at load time: the provider that runs the model, and the derived
  // signature.
  body.pop_back();
  JsonWriter w(&body);
  body += ',';
  w.Key("execution_provider").String((*mv)->execution_provider());
  if (!(*mv)->fallback_reason().empty()) {
    w.Key("execution_provider_fallback").String((*mv)->fallback_reason());
  }
  WriteTensorSpecs(w, "inputs", (*mv)->signature().inputs);
  WriteTensorSpecs(w, "outputs", (*mv)->signature().outputs);
  if (auto record = LoadedRecord(*repository_, **mv); record.ok()) {
    w.Key("package").BeginObject().Key("reference").String(record->reference);
    w.Key("digest").String(record->digest).Key("variant").String(record->variant);
    w.Key("reason").String(record->reason).Key("installed_at").String(record->installed_at);
    w.Key("created_at").String(record->created_at).EndObject();
  }
  body += '}';
  return Json(200, std::move(body));
}

http::Response V2Api::Stats(const std::string& model, int64_t version) {
  std::vector<std::shared_ptr<ModelVersion>> versions;
  if (model.empty()) {
    versions = repository_->AllReady();
  } else if (version > 0) {
    auto mv = repository_->Get(model, version);
    if (!mv.ok()) return ErrorResponse(mv.status());
    versions.push_back(*mv);
  } else {
    versions = repository_->ReadyVersions(model);
    if (versions.empty()) return ErrorResponse(repository_->Get(model).status());
  }
  std::string body = R"({"model_stats":[)";
  for (size_t i = 0; i < versions.size(); ++i) {
    if (i) body += ',';
    body += versions[i]->stats().ToJson();
  }
  body += "]}";
  return Json(200, std::move(body));
}

http::Response V2Api::RepositoryIndex(const http::Request& req) {
  bool ready_only = false;
  if (!req.body.empty()) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(req.body).get(root) != simdjson::SUCCESS || !root.is_object()) {
      return ErrorResponse(InvalidArgument("repository index request: body must be a JSON object"));
    }
    simdjson::dom::element r;
    if (root["ready"].get(r) == simdjson::SUCCESS && r.get_bool().get(ready_only) != simdjson::SUCCESS) {
      return ErrorResponse(InvalidArgument("repository index request: 'ready' must be true or false"));
    }
  }
  std::string body;
  JsonWriter w(&body);
  w.BeginArray();
  for (const auto& e : repository_->Index(ready_only)) {
    w.BeginObject().Key("name").String(e.name);
    if (!e.version.empty()) w.Key("version").String(e.version);
    w.Key("state").String(e.state);
    if (!e.reason.empty()) w.Key("reason").String(e.reason);
    w.EndObject();
  }
  w.EndArray();
  return Json(200, std::move(body));
}

http::Response V2Api::RepositoryLoad(const http::Request& req, const std::string& model, bool load) {
  // The body is optional: {"parameters": {...}}. A model's configuration is its config.json in
  // the repository, so load takes no parameters (a "config" or file override is refused rather
  // than ignored); unload takes "unload_dependents" (no ensembles here: it changes nothing).
  const char* what = load ? "load request" : "unload request";
  if (!req.body.empty()) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::object fields;
    if (parser.parse(req.body).get(root) != simdjson::SUCCESS ||
        root.get_object().get(fields) != simdjson::SUCCESS) {
      return ErrorResponse(InvalidArgument(std::string(what) + ": body must be a JSON object"));
    }
    for (auto [key, value] : fields) {
      if (key != "parameters") {
        return ErrorResponse(
            InvalidArgument(std::string(what) + ": unknown field '" + std::string(key.substr(0, 64)) + "'"));
      }
      simdjson::dom::object params;
      if (value.get_object().get(params) != simdjson::SUCCESS) {
        return ErrorResponse(InvalidArgument(std::string(what) + ": 'parameters' must be an object"));
      }
      for (auto [name, v] : params) {
        if (!load && name == "unload_dependents") {
          if (!v.is_bool()) {
            return ErrorResponse(InvalidArgument(std::string(what) +
                                                 ": 'parameters.unload_dependents' must be true or false"));
          }
          continue;
        }
        return ErrorResponse(InvalidArgument(
            std::string(what) + ": parameters: '" + std::string(name.substr(0, 64)) +
            "' is not supported (the model's config.json in the repository is its configuration)"));
      }
    }
  }
  Status st = load ? repository_->Load(model) : repository_->Unload(model);
  if (!st.ok()) return ErrorResponse(st);
  return Json(200, "{}");
}

}  // namespace continuum
