// Fuzzes the route grammar (api/route.h) with arbitrary paths, and with the paths the server
// decodes from arbitrary request targets. Properties: parsing never crashes; every parsed route
// (its model included) round-trips through its canonical path; empty segments never change a
// route; the kinds on which the node acts for one model always carry it, and the filter class is
// the one for that kind, so the filter chain and the node agree on the model by construction; a
// route the gateway forwards is its own canonical path and reaches the node (encoded on the wire,
// decoded there) as the same route.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/path.h"
#include "api/route.h"
#include "http/validate.h"

namespace {

using continuum::Route;
using continuum::RouteKind;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool ModelKind(RouteKind k) {
  switch (k) {
    case RouteKind::kV2RepositoryModel:
    case RouteKind::kV2Model:
    case RouteKind::kV2ModelAction:
    case RouteKind::kV2Infer:
    case RouteKind::kV2ModelOther:
    case RouteKind::kTaskRun:
    case RouteKind::kTaskModel:
    case RouteKind::kOpenAiModel: return true;
    default: return false;
  }
}

bool NoEmptySegment(std::string_view s) {
  return !s.empty() && s.front() != '/' && s.back() != '/' && s.find("//") == std::string_view::npos;
}

void CheckPath(std::string_view path) {
  const Route r = continuum::ParseRoute(path);

  // The model: present exactly on the kinds that act on one, never with an empty segment; v2 and
  // OpenAI names are one segment.
  Check(ModelKind(r.kind) == !r.model.empty());
  if (!r.model.empty()) Check(NoEmptySegment(r.model));
  if (r.kind != RouteKind::kTaskRun && r.kind != RouteKind::kTaskModel)
    Check(r.model.find('/') == std::string::npos);
  Check(r.version.find('/') == std::string::npos);
  Check(r.account.find('/') == std::string::npos);

  // The filter class is a function of the kind the node dispatches on.
  const std::string_view cls = continuum::FilterRouteName(r.kind);
  Check((cls == "v2_infer") == (r.kind == RouteKind::kV2Infer));
  Check((cls == "task") == (r.kind == RouteKind::kTaskRun));
  Check((cls == "v2_model") == (r.kind == RouteKind::kV2Model || r.kind == RouteKind::kV2ModelAction ||
                                r.kind == RouteKind::kV2ModelOther));
  Check((cls == "task_model_search") == (r.kind == RouteKind::kTaskModelSearch));
  if (r.kind == RouteKind::kTaskModelSearch) Check(r.model.empty());

  // Round trip through the canonical path.
  const std::string formatted = continuum::FormatRoute(r);
  Check(formatted.empty() == (r.kind == RouteKind::kUnknown));
  if (!formatted.empty()) {
    Route again = continuum::ParseRoute(formatted);
    Check(again.canonical);
    again.canonical = r.canonical;
    Check(again == r);
  }

  // Empty segments change nothing but `canonical`.
  std::string collapsed;
  for (std::string_view s : continuum::SplitPath(path)) (collapsed += '/') += s;
  Route c = continuum::ParseRoute(collapsed);
  c.canonical = r.canonical;
  Check(c == r);

  // What the gateway forwards is canonical, runs a model, and is seen as the same route by the
  // node after the wire: encoded by the gateway, decoded by the node's server.
  bool control = false;
  for (unsigned char ch : path) control = control || ch < 0x20 || ch == 0x7f;
  if (continuum::IsForwardable(r)) {
    Check(r.canonical);
    Check(r.kind == RouteKind::kV2Infer || r.kind == RouteKind::kTaskRun);
    Check(formatted == path);
  }
  // The server never hands over a path with a control character (http/validate.h).
  if (continuum::IsForwardable(r) && !control) {
    std::string decoded, query;
    Check(continuum::http::SplitTarget(continuum::http::EncodePath(path), decoded, query));
    Check(decoded == path && query.empty());
    Check(continuum::ParseRoute(decoded) == r);
  }

  // The task API and the v2 API split the paths between them by kind.
  if (continuum::IsTaskApiRoute(r.kind)) {
    auto p = continuum::SplitPath(path);
    Check(!p.empty() &&
          (p[0] == "ai" || p[0] == "v1" || (p.size() >= 3 && p[0] == "accounts" && p[2] == "ai")));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckPath(input);
  // The same bytes as a request target, decoded as the server does.
  std::string path, query;
  if (continuum::http::SplitTarget(input, path, query)) CheckPath(path);
  return 0;
}
