// The route grammar: which handler a request path reaches and which model (and version) it
// names. The v2 API, the task API, the filter chain and the gateway all parse paths here, so the
// model an auth scope, a cache key or a usage row is keyed on is, by construction, the model the
// node runs. No JSON, no ONNX Runtime: every front end may link it.
//
// Paths are the server's percent-decoded paths (http::Request::path): "%2F" is already a slash
// and splits segments like one. Empty segments are dropped ("/v2//models/m/" is "/v2/models/m"),
// as the node always did; `canonical` says whether there were none (the gateway forwards only
// canonical paths).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace continuum {

enum class RouteKind {
  kUnknown,            // no route
  kMetrics,            // /metrics
  kV2Server,           // /v2
  kV2Health,           // /v2/health/{action}: live, ready (any other action: no route)
  kV2RepositoryIndex,  // /v2/repository/index
  kV2RepositoryModel,  // /v2/repository/models/{m}/{action}: load, unload
  kV2AllStats,         // /v2/models/stats
  kV2Model,            // /v2/models/{m}[/versions/{v}]: metadata
  kV2ModelAction,      // /v2/models/{m}[/versions/{v}]/{action}: ready, stats, config (else no route)
  kV2Infer,            // /v2/models/{m}[/versions/{v}]/infer
  kV2ModelOther,     // deeper under /v2/models/{m}: no route, but it names the model; `action` holds the rest
  kV2Other,          // anything else under /v2: no route
  kTaskRun,          // [/accounts/{a}]/ai/run/{model}; Workers AI names hold slashes (@cf/meta/...)
  kTaskModels,       // [/accounts/{a}]/ai/models: the catalog
  kTaskModelSearch,  // [/accounts/{a}]/ai/models/search: a catalog listing, not a model named "search"
  kTaskModel,        // [/accounts/{a}]/ai/models/{model}
  kTaskOther,        // anything else under [/accounts/{a}]/ai: no route
  kOpenAiEmbeddings,  // /v1/embeddings (the model is in the body)
  kOpenAiModels,      // /v1/models
  kOpenAiModel,       // /v1/models/{m}
  kOpenAiOther,       // anything else under /v1: no route
  kUsage,             // /usage (answered by the metering filter)
};

struct Route {
  RouteKind kind = RouteKind::kUnknown;
  std::string account;  // {a} of /accounts/{a}/ai/...; empty otherwise
  std::string model;    // the model the path names (segments joined by '/'); empty when none
  std::string version;  // the {v} of /versions/{v} as written (may not be a number); empty when none
  std::string action;   // v2 health, repository and per-model action; for kV2ModelOther the rest of the path
  bool canonical = false;  // starts with '/' and holds no empty segment ("//", a trailing '/')

  bool operator==(const Route&) const = default;
};

Route ParseRoute(std::string_view path);

// The canonical path of a route: ParseRoute(FormatRoute(r)) == r for every r that ParseRoute
// returned with a model (canonical set). Empty for kUnknown.
std::string FormatRoute(const Route& route);

// A v2 model version: a positive decimal integer, nothing else.
std::optional<int64_t> ParseModelVersion(std::string_view s);

// The task API (Workers AI envelope, OpenAI shapes) answers these; the v2 API the rest.
bool IsTaskApiRoute(RouteKind kind);

// The class the filter chain keys on (RequestContext::route): "v2_infer", "v2_model", "task",
// "task_model", "task_model_search", "openai", "usage" or "other".
std::string_view FilterRouteName(RouteKind kind);

// True when the gateway forwards the route to a node: POST targets that run a model, written
// canonically, with a valid version if one is named (v2 infer, task run).
bool IsForwardable(const Route& route);

}  // namespace continuum
