// The C API of libcontinuum over the router, the gateway dispatch and an in-process node.
// Nothing of C++ crosses the boundary: every internal Status becomes a code and a malloc'ed
// message, and no exception can escape (the parts below return Status values; allocation
// failure is the one exception, caught at each entry point).
#include "continuum/continuum.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "common/config_reader.h"
#include "common/status.h"
#include "gateway/gateway.h"
#include "gateway/upstream_tls.h"
#include "http/message.h"
#include "http/validate.h"
#include "node/inference_node.h"
#include "router/decision_log.h"
#include "router/router.h"

namespace cn = continuum;

struct continuum_handle {
  // Construction order; destroyed in reverse (the gateway stops taking the node's answers
  // before the node drains, and the router outlives the gateway).
  std::unique_ptr<cn::InferenceNode> node;
  std::unique_ptr<cn::router::DecisionLog> log;
  std::unique_ptr<cn::router::Router> router;
  std::unique_ptr<cn::gateway::Gateway> gateway;
};

struct continuum_response {
  int status = 0;
  std::string body, content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string tier = "none", node = "none", fallback_step = "none", reason;
};

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

continuum_status CodeOf(cn::StatusCode c) {
  switch (c) {
    case cn::StatusCode::kOk: return CONTINUUM_OK;
    case cn::StatusCode::kInvalidArgument: return CONTINUUM_INVALID_ARGUMENT;
    case cn::StatusCode::kNotFound: return CONTINUUM_NOT_FOUND;
    case cn::StatusCode::kAlreadyExists: return CONTINUUM_ALREADY_EXISTS;
    case cn::StatusCode::kFailedPrecondition: return CONTINUUM_FAILED_PRECONDITION;
    case cn::StatusCode::kPayloadTooLarge: return CONTINUUM_PAYLOAD_TOO_LARGE;
    case cn::StatusCode::kResourceExhausted: return CONTINUUM_RESOURCE_EXHAUSTED;
    case cn::StatusCode::kUnavailable: return CONTINUUM_UNAVAILABLE;
    case cn::StatusCode::kDeadlineExceeded: return CONTINUUM_DEADLINE_EXCEEDED;
    case cn::StatusCode::kUnimplemented: return CONTINUUM_UNIMPLEMENTED;
    case cn::StatusCode::kInternal: return CONTINUUM_INTERNAL;
    case cn::StatusCode::kCancelled:  // in-process calls are never cancelled
    case cn::StatusCode::kAborted:    // a conflict: retrying may succeed
      return CONTINUUM_UNAVAILABLE;
  }
  return CONTINUUM_INTERNAL;
}

char* CopyString(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

continuum_status Fail(const cn::Status& st, char** error) {
  if (error) *error = CopyString(st.message());
  return CodeOf(st.code());
}

struct Config {
  std::string topology_path, topology_json, model_repository, catalog, decision_log;
  int64_t request_timeout_ms = 30000, intra_op_threads = 0, probe_interval_ms = 1000,
          eject_after_failures = 3;
  cn::tls::ClientTlsOptions upstream;  // https:// nodes without a "tls" block of their own
};

cn::StatusOr<Config> ParseConfig(const char* json) {
  if (!json) return cn::InvalidArgument("config: is NULL");
  cn::config::Reader r("config: ", {.not_object = "must be a JSON object"});
  cn::config::Object obj;
  RETURN_IF_ERROR(r.Parse(json, &obj));
  Config c;
  bool has_topology = false;
  for (auto [key, v] : obj) {
    if (key == "topology") {
      has_topology = true;
      if (v.is_string()) {
        ASSIGN_OR_RETURN(c.topology_path, r.String(v, key, true));
      } else if (v.is_object()) {
        c.topology_json = simdjson::minify(v);
      } else {
        return r.Err(key, "must be a file path or an inline topology object");
      }
    } else if (key == "model_repository" || key == "catalog" || key == "decision_log") {
      std::string& out = key == "model_repository" ? c.model_repository
                         : key == "catalog"        ? c.catalog
                                                   : c.decision_log;
      ASSIGN_OR_RETURN(out, r.String(v, key, true));
    } else if (key == "upstream_ca" || key == "upstream_cert" || key == "upstream_key") {
      std::string& out = key == "upstream_ca"     ? c.upstream.ca_file
                         : key == "upstream_cert" ? c.upstream.cert_file
                                                  : c.upstream.key_file;
      ASSIGN_OR_RETURN(out, r.String(v, key, true));
    } else if (key == "request_timeout_ms") {
      ASSIGN_OR_RETURN(c.request_timeout_ms, r.Int(v, key, 1, 3'600'000));
    } else if (key == "intra_op_threads") {
      ASSIGN_OR_RETURN(c.intra_op_threads, r.Int(v, key, 0, 1024));
    } else if (key == "probe_interval_ms") {
      ASSIGN_OR_RETURN(c.probe_interval_ms, r.Int(v, key, 1, 3'600'000));
    } else if (key == "eject_after_failures") {
      ASSIGN_OR_RETURN(c.eject_after_failures, r.Int(v, key, 1, 1'000'000));
    } else {
      return r.Err("", "unknown key '" + std::string(key) + "'");
    }
  }
  if (!has_topology) return r.Err("topology", "is required");
  if (!c.catalog.empty() && c.model_repository.empty()) return r.Err("catalog", "needs model_repository");
  if (c.upstream.cert_file.empty() != c.upstream.key_file.empty())
    return r.Err(c.upstream.cert_file.empty() ? "upstream_cert" : "upstream_key",
                 "upstream_cert and upstream_key go together");
  return c;
}

cn::StatusOr<std::unique_ptr<continuum_handle>> Open(const char* config_json) {
  ASSIGN_OR_RETURN(Config c, ParseConfig(config_json));
  cn::StatusOr<cn::router::Topology> topology = c.topology_path.empty()
                                                    ? cn::router::ParseTopology(c.topology_json)
                                                    : cn::router::LoadTopology(c.topology_path);
  if (!topology.ok()) return topology.status();
  ASSIGN_OR_RETURN(cn::gateway::UpstreamTls upstream_tls,
                   cn::gateway::MakeUpstreamTls(*topology, c.upstream));

  auto h = std::make_unique<continuum_handle>();
  if (!c.model_repository.empty()) {
    cn::InferenceNodeOptions no;
    no.engine.intra_op_threads = static_cast<int>(c.intra_op_threads);
    no.repository.root = c.model_repository;
    no.v2.server_version = CONTINUUM_VERSION;
    no.catalog_dir = c.catalog;
    no.process_metrics = false;  // the application's process, not ours to report
    ASSIGN_OR_RETURN(h->node, cn::InferenceNode::Create(std::move(no)));
    RETURN_IF_ERROR(h->node->Start());
  }
  if (!c.decision_log.empty()) {
    ASSIGN_OR_RETURN(h->log, cn::router::DecisionLog::Open(c.decision_log));
  }
  cn::router::RouterOptions ro;
  ro.eject_after_failures = static_cast<int>(c.eject_after_failures);
  ro.probe_interval = std::chrono::milliseconds(c.probe_interval_ms);
  h->router = std::make_unique<cn::router::Router>(std::move(topology).value(), ro);

  cn::gateway::GatewayOptions go;
  go.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
  go.probe_period = std::chrono::milliseconds(std::min<int64_t>(c.probe_interval_ms, 250));
  go.upstream_tls = std::move(upstream_tls.defaults);
  go.upstream_tls_by_url = std::move(upstream_tls.by_url);
  if (h->node) {
    cn::InferenceNode* n = h->node.get();
    go.local_handler = [n](cn::http::Request&& r, cn::http::Responder w) {
      n->Handle(std::move(r), std::move(w));
    };
  }
  h->gateway = std::make_unique<cn::gateway::Gateway>(h->router.get(), h->log.get(), std::move(go));
  return h;
}

std::unique_ptr<continuum_response> ToResponse(cn::http::Response r) {
  auto out = std::make_unique<continuum_response>();
  out->status = r.status;
  out->body = std::move(r.body);
  out->content_type = std::move(r.content_type);
  for (auto& [k, v] : r.headers) {
    if (EqualsIgnoreCase(k, "x-continuum-tier")) {
      out->tier = v;
    } else if (EqualsIgnoreCase(k, "x-continuum-node")) {
      out->node = v;
    } else if (EqualsIgnoreCase(k, "x-continuum-fallback-step")) {
      out->fallback_step = v;
    } else if (EqualsIgnoreCase(k, "x-continuum-reason")) {
      out->reason = v;
    }
    out->headers.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

}  // namespace

extern "C" {

const char* continuum_version(void) { return CONTINUUM_VERSION; }

void continuum_string_free(char* s) { std::free(s); }

continuum_status continuum_open(const char* config_json, continuum_handle** out, char** error) {
  if (error) *error = nullptr;
  if (!out) return Fail(cn::InvalidArgument("continuum_open: out is NULL"), error);
  *out = nullptr;
  try {
    auto h = Open(config_json);
    if (!h.ok()) return Fail(h.status(), error);
    *out = h->release();
    return CONTINUUM_OK;
  } catch (const std::bad_alloc&) {
    return Fail(cn::Internal("continuum_open: out of memory"), error);
  }
}

continuum_status continuum_request(continuum_handle* handle, const char* method, const char* path,
                                   const continuum_header* headers, size_t header_count, const void* body,
                                   size_t body_len, continuum_response** out, char** error) {
  if (error) *error = nullptr;
  if (!out) return Fail(cn::InvalidArgument("continuum_request: out is NULL"), error);
  *out = nullptr;
  if (!handle) return Fail(cn::InvalidArgument("continuum_request: handle is NULL"), error);
  if (!path) return Fail(cn::InvalidArgument("continuum_request: path is NULL"), error);
  if (header_count > 0 && !headers)
    return Fail(cn::InvalidArgument("continuum_request: headers is NULL"), error);
  if (body_len > 0 && !body) return Fail(cn::InvalidArgument("continuum_request: body is NULL"), error);
  try {
    cn::http::Request req;
    req.method = method ? method : "POST";
    // What the HTTP server would refuse to read is refused here too: a method that is not a
    // token, a control character or space in the path, a header name that is not a token, a
    // control character in a header value. The gateway forwards what it is given.
    if (!cn::http::IsToken(req.method))
      return Fail(cn::InvalidArgument("continuum_request: method: not a token (RFC 9110)"), error);
    if (cn::Status st = cn::http::CheckRequestHead(req.method, path, {}); !st.ok())
      return Fail(cn::InvalidArgument("continuum_request: path: " + st.message()), error);
    // The same target parsing as the HTTP server: the gateway sees what a socket would give it.
    if (!cn::http::SplitTarget(path, req.path, req.query))
      return Fail(cn::InvalidArgument(std::string("continuum_request: bad path '") + path + "'"), error);
    req.target = path;
    req.headers.reserve(header_count);
    for (size_t i = 0; i < header_count; ++i) {
      if (!headers[i].name || !headers[i].value)
        return Fail(cn::InvalidArgument("continuum_request: headers[" + std::to_string(i) +
                                        "] has a NULL name or value"),
                    error);
      if (cn::Status st = cn::http::CheckHeader(headers[i].name, headers[i].value); !st.ok())
        return Fail(
            cn::InvalidArgument("continuum_request: headers[" + std::to_string(i) + "]: " + st.message()),
            error);
      std::string name = headers[i].name;
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers.emplace_back(std::move(name), headers[i].value);
    }
    if (body_len > 0) req.body.assign(static_cast<const char*>(body), body_len);
    req.remote = "libcontinuum";
    // The gateway answers exactly once, from its own threads, and never blocks this one; its own
    // deadlines bound the wait.
    auto answer = cn::http::CallHandler(
        [gw = handle->gateway.get()](cn::http::Request&& r, cn::http::Responder w) {
          gw->Handle(std::move(r), std::move(w));
        },
        std::move(req), std::chrono::steady_clock::time_point::max());
    if (!answer.ok())  // the answer was dropped unsent (cannot happen: defensive)
      return Fail(cn::Internal("continuum_request: " + answer.status().message()), error);
    *out = ToResponse(std::move(*answer)).release();
    return CONTINUUM_OK;
  } catch (const std::bad_alloc&) {
    return Fail(cn::Internal("continuum_request: out of memory"), error);
  }
}

int continuum_response_status(const continuum_response* r) { return r ? r->status : 0; }

const char* continuum_response_body(const continuum_response* r, size_t* len) {
  if (len) *len = r ? r->body.size() : 0;
  return r ? r->body.c_str() : "";
}

const char* continuum_response_content_type(const continuum_response* r) {
  return r ? r->content_type.c_str() : "";
}

const char* continuum_response_header(const continuum_response* r, const char* name) {
  if (!r || !name) return nullptr;
  if (EqualsIgnoreCase(name, "content-type"))
    return r->content_type.empty() ? nullptr : r->content_type.c_str();
  for (const auto& [k, v] : r->headers)
    if (EqualsIgnoreCase(k, name)) return v.c_str();
  return nullptr;
}

const char* continuum_response_tier(const continuum_response* r) { return r ? r->tier.c_str() : "none"; }
const char* continuum_response_node(const continuum_response* r) { return r ? r->node.c_str() : "none"; }
const char* continuum_response_fallback_step(const continuum_response* r) {
  return r ? r->fallback_step.c_str() : "none";
}
const char* continuum_response_reason(const continuum_response* r) { return r ? r->reason.c_str() : ""; }

void continuum_response_free(continuum_response* r) { delete r; }

void continuum_close(continuum_handle* handle) {
  if (!handle) return;
  // Stop routing first: the gateway lets go of the in-process node's late answers before the
  // node drains (queued requests are still answered) and goes.
  handle->gateway.reset();
  if (handle->node) handle->node->Shutdown();
  delete handle;
}

}  // extern "C"
