#include "api/route.h"

#include <charconv>
#include <vector>

#include "api/path.h"

namespace continuum {

namespace {

using Segments = std::vector<std::string_view>;

std::string Join(const Segments& p, size_t from) {
  std::string out;
  for (size_t i = from; i < p.size(); ++i) {
    if (i > from) out += '/';
    out += p[i];
  }
  return out;
}

// The route is `kind`, naming `model` and `action` (empty: none).
void Name(Route* r, RouteKind kind, std::string_view model = {}, std::string_view action = {}) {
  r->kind = kind;
  r->model = model;
  r->action = action;
}

// /v2/models/{m}[/versions/{v}][/action], n >= 3: the model is one segment.
void ParseV2Model(const Segments& p, Route* r) {
  const size_t n = p.size();
  size_t next = 3;
  if (n > 3 && p[3] == "versions") {
    if (n < 5) return Name(r, RouteKind::kV2ModelOther, p[2], Join(p, 3));
    r->version = p[4];
    next = 5;
  }
  if (n == next) return Name(r, RouteKind::kV2Model, p[2]);
  if (n == next + 1) {
    return Name(r, p[next] == "infer" ? RouteKind::kV2Infer : RouteKind::kV2ModelAction, p[2], p[next]);
  }
  Name(r, RouteKind::kV2ModelOther, p[2], Join(p, next));
}

// /v2/...: p[0] == "v2".
void ParseV2(const Segments& p, Route* r) {
  const size_t n = p.size();
  if (n == 1) return Name(r, RouteKind::kV2Server);
  if (p[1] == "health" && n == 3) return Name(r, RouteKind::kV2Health, {}, p[2]);
  if (p[1] == "repository" && n == 3 && p[2] == "index") return Name(r, RouteKind::kV2RepositoryIndex);
  if (p[1] == "repository" && n == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
    return Name(r, RouteKind::kV2RepositoryModel, p[3], p[4]);
  }
  if (p[1] == "models" && n == 3 && p[2] == "stats") return Name(r, RouteKind::kV2AllStats);
  if (p[1] == "models" && n >= 3) return ParseV2Model(p, r);
  Name(r, RouteKind::kV2Other, {}, Join(p, 1));
}

// [/accounts/{a}]/ai/...: p[at] == "ai".
void ParseTask(const Segments& p, size_t at, Route* r) {
  const size_t n = p.size() - at;
  // Catalog names contain slashes ("@cf/paddle/pp-ocrv4"): the model is the rest of the path.
  if (n >= 3 && p[at + 1] == "run") return Name(r, RouteKind::kTaskRun, Join(p, at + 2));
  if (n == 2 && p[at + 1] == "models") return Name(r, RouteKind::kTaskModels);
  if (n == 3 && p[at + 1] == "models" && p[at + 2] == "search") return Name(r, RouteKind::kTaskModelSearch);
  if (n >= 3 && p[at + 1] == "models") return Name(r, RouteKind::kTaskModel, Join(p, at + 2));
  Name(r, RouteKind::kTaskOther, {}, Join(p, at + 1));
}

// /v1/...: p[0] == "v1".
void ParseOpenAi(const Segments& p, Route* r) {
  if (p.size() == 2 && p[1] == "embeddings") return Name(r, RouteKind::kOpenAiEmbeddings);
  if (p.size() == 2 && p[1] == "models") return Name(r, RouteKind::kOpenAiModels);
  if (p.size() == 3 && p[1] == "models") return Name(r, RouteKind::kOpenAiModel, p[2]);
  Name(r, RouteKind::kOpenAiOther, {}, Join(p, 1));
}

}  // namespace

Route ParseRoute(std::string_view path) {
  Route r;
  r.canonical = !path.empty() && path.front() == '/' && path.find("//") == std::string_view::npos &&
                (path.size() == 1 || path.back() != '/');
  const Segments p = SplitPath(path);
  if (p.empty()) return r;
  if (p[0] == "v2") {
    ParseV2(p, &r);
  } else if (p[0] == "v1") {
    ParseOpenAi(p, &r);
  } else if (p[0] == "ai") {
    ParseTask(p, 0, &r);
  } else if (p[0] == "accounts" && p.size() >= 3 && p[2] == "ai") {
    r.account = p[1];
    ParseTask(p, 2, &r);
  } else if (p.size() == 1 && p[0] == "metrics") {
    r.kind = RouteKind::kMetrics;
  } else if (p.size() == 1 && p[0] == "usage") {
    r.kind = RouteKind::kUsage;
  }
  return r;
}

std::string FormatRoute(const Route& r) {
  auto v2_model = [&] {
    std::string s = "/v2/models/" + r.model;
    if (!r.version.empty()) s += "/versions/" + r.version;
    return s;
  };
  const std::string ai = r.account.empty() ? "/ai" : "/accounts/" + r.account + "/ai";
  auto then = [](const std::string& rest) { return rest.empty() ? rest : "/" + rest; };
  switch (r.kind) {
    case RouteKind::kUnknown: return "";
    case RouteKind::kMetrics: return "/metrics";
    case RouteKind::kUsage: return "/usage";
    case RouteKind::kV2Server: return "/v2";
    case RouteKind::kV2Health: return "/v2/health/" + r.action;
    case RouteKind::kV2RepositoryIndex: return "/v2/repository/index";
    case RouteKind::kV2RepositoryModel: return "/v2/repository/models/" + r.model + "/" + r.action;
    case RouteKind::kV2AllStats: return "/v2/models/stats";
    case RouteKind::kV2Model: return v2_model();
    case RouteKind::kV2ModelAction:
    case RouteKind::kV2ModelOther: return v2_model() + "/" + r.action;
    case RouteKind::kV2Infer: return v2_model() + "/infer";
    case RouteKind::kV2Other: return "/v2" + then(r.action);
    case RouteKind::kTaskRun: return ai + "/run/" + r.model;
    case RouteKind::kTaskModels: return ai + "/models";
    case RouteKind::kTaskModelSearch: return ai + "/models/search";
    case RouteKind::kTaskModel: return ai + "/models/" + r.model;
    case RouteKind::kTaskOther: return ai + then(r.action);
    case RouteKind::kOpenAiEmbeddings: return "/v1/embeddings";
    case RouteKind::kOpenAiModels: return "/v1/models";
    case RouteKind::kOpenAiModel: return "/v1/models/" + r.model;
    case RouteKind::kOpenAiOther: return "/v1" + then(r.action);
  }
  return "";
}

std::optional<int64_t> ParseModelVersion(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

bool IsTaskApiRoute(RouteKind kind) {
  switch (kind) {
    case RouteKind::kTaskRun:
    case RouteKind::kTaskModels:
    case RouteKind::kTaskModelSearch:
    case RouteKind::kTaskModel:
    case RouteKind::kTaskOther:
    case RouteKind::kOpenAiEmbeddings:
    case RouteKind::kOpenAiModels:
    case RouteKind::kOpenAiModel:
    case RouteKind::kOpenAiOther: return true;
    default: return false;
  }
}

std::string_view FilterRouteName(RouteKind kind) {
  switch (kind) {
    case RouteKind::kV2Infer: return "v2_infer";
    case RouteKind::kV2Model:
    case RouteKind::kV2ModelAction:
    case RouteKind::kV2ModelOther: return "v2_model";
    case RouteKind::kTaskRun: return "task";
    case RouteKind::kTaskModel:
    case RouteKind::kOpenAiModel: return "task_model";
    case RouteKind::kTaskModelSearch: return "task_model_search";
    case RouteKind::kOpenAiEmbeddings: return "openai";
    case RouteKind::kUsage: return "usage";
    default: return "other";
  }
}

bool IsForwardable(const Route& r) {
  if (!r.canonical) return false;
  if (r.kind == RouteKind::kTaskRun) return true;
  return r.kind == RouteKind::kV2Infer && (r.version.empty() || ParseModelVersion(r.version).has_value());
}

}  // namespace continuum
