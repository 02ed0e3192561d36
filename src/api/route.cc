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

// /v2/...: p[0] == "v2".
void ParseV2(const Segments& p, Route* r) {
  const size_t n = p.size();
  if (n == 1) {
    r->kind = RouteKind::kV2Server;
    return;
  }
  r->kind = RouteKind::kV2Other;
  if (p[1] == "health") {
    if (n == 3) {
      r->kind = RouteKind::kV2Health;
      r->action = p[2];
      return;
    }
  } else if (p[1] == "repository") {
    if (n == 3 && p[2] == "index") {
      r->kind = RouteKind::kV2RepositoryIndex;
      return;
    }
    if (n == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
      r->kind = RouteKind::kV2RepositoryModel;
      r->model = p[3];
      r->action = p[4];
      return;
    }
  } else if (p[1] == "models") {
    if (n == 3 && p[2] == "stats") {
      r->kind = RouteKind::kV2AllStats;
      return;
    }
    if (n >= 3) {
      // /v2/models/{m}[/versions/{v}][/action]: the model is one segment.
      r->model = p[2];
      size_t next = 3;
      if (n > 3 && p[3] == "versions") {
        if (n < 5) {
          r->kind = RouteKind::kV2ModelOther;
          r->action = Join(p, 3);
          return;
        }
        r->version = p[4];
        next = 5;
      }
      if (n == next) {
        r->kind = RouteKind::kV2Model;
      } else if (n == next + 1) {
        r->kind = p[next] == "infer" ? RouteKind::kV2Infer : RouteKind::kV2ModelAction;
        r->action = p[next];
      } else {
        r->kind = RouteKind::kV2ModelOther;
        r->action = Join(p, next);
      }
      return;
    }
  }
  r->action = Join(p, 1);
}

// [/accounts/{a}]/ai/...: p[at] == "ai".
void ParseTask(const Segments& p, size_t at, Route* r) {
  const size_t n = p.size() - at;
  if (n >= 3 && p[at + 1] == "run") {
    // Catalog names contain slashes ("@cf/paddle/pp-ocrv4"): the model is the rest of the path.
    r->kind = RouteKind::kTaskRun;
    r->model = Join(p, at + 2);
  } else if (n == 2 && p[at + 1] == "models") {
    r->kind = RouteKind::kTaskModels;
  } else if (n == 3 && p[at + 1] == "models" && p[at + 2] == "search") {
    r->kind = RouteKind::kTaskModelSearch;
  } else if (n >= 3 && p[at + 1] == "models") {
    r->kind = RouteKind::kTaskModel;
    r->model = Join(p, at + 2);
  } else {
    r->kind = RouteKind::kTaskOther;
    r->action = Join(p, at + 1);
  }
}

// /v1/...: p[0] == "v1".
void ParseOpenAi(const Segments& p, Route* r) {
  if (p.size() == 2 && p[1] == "embeddings") {
    r->kind = RouteKind::kOpenAiEmbeddings;
  } else if (p.size() == 2 && p[1] == "models") {
    r->kind = RouteKind::kOpenAiModels;
  } else if (p.size() == 3 && p[1] == "models") {
    r->kind = RouteKind::kOpenAiModel;
    r->model = p[2];
  } else {
    r->kind = RouteKind::kOpenAiOther;
    r->action = Join(p, 1);
  }
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
