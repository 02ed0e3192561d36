#include "api/route.h"

#include <gtest/gtest.h>

#include "http/validate.h"

namespace continuum {
namespace {

using K = RouteKind;

struct Case {
  std::string_view path;
  RouteKind kind;
  std::string_view model = "";
  std::string_view version = "";
  std::string_view account = "";
  std::string_view action = "";
  std::string_view filter = "other";
};

void Check(const Case& c, const Route& r) {
  EXPECT_EQ(r.kind, c.kind);
  EXPECT_EQ(r.model, c.model);
  EXPECT_EQ(r.version, c.version);
  EXPECT_EQ(r.account, c.account);
  EXPECT_EQ(r.action, c.action);
  EXPECT_EQ(FilterRouteName(r.kind), c.filter);
}

// Decoded paths, as http::Request::path holds them.
const Case kCases[] = {
    {"/v2", K::kV2Server},
    {"/v2/health/live", K::kV2Health, "", "", "", "live"},
    {"/v2/health/ready/", K::kV2Health, "", "", "", "ready"},
    {"/v2/health", K::kV2Other, "", "", "", "health"},
    {"/v2/repository/index", K::kV2RepositoryIndex},
    {"/v2/repository/models/m/load", K::kV2RepositoryModel, "m", "", "", "load"},
    {"/v2/repository/models/m/unload", K::kV2RepositoryModel, "m", "", "", "unload"},
    {"/v2/repository/models/m/drop", K::kV2Other, "", "", "", "repository/models/m/drop"},
    {"/v2/models", K::kV2Other, "", "", "", "models"},
    {"/v2/models/stats", K::kV2AllStats},
    {"/v2/models/stats/ready", K::kV2ModelAction, "stats", "", "", "ready", "v2_model"},
    {"/v2/models/add_sub", K::kV2Model, "add_sub", "", "", "", "v2_model"},
    {"/v2/models/add_sub/", K::kV2Model, "add_sub", "", "", "", "v2_model"},
    {"/v2/models/add_sub/infer", K::kV2Infer, "add_sub", "", "", "infer", "v2_infer"},
    {"//v2//models//add_sub//infer//", K::kV2Infer, "add_sub", "", "", "infer", "v2_infer"},
    {"/v2/models/add_sub/versions/3/infer", K::kV2Infer, "add_sub", "3", "", "infer", "v2_infer"},
    {"/v2/models/add_sub/versions/x/infer", K::kV2Infer, "add_sub", "x", "", "infer", "v2_infer"},
    {"/v2/models/add_sub/versions/3", K::kV2Model, "add_sub", "3", "", "", "v2_model"},
    {"/v2/models/add_sub/versions", K::kV2ModelOther, "add_sub", "", "", "versions", "v2_model"},
    {"/v2/models/add_sub/versions/3/ready", K::kV2ModelAction, "add_sub", "3", "", "ready", "v2_model"},
    {"/v2/models/add_sub/config", K::kV2ModelAction, "add_sub", "", "", "config", "v2_model"},
    {"/v2/models/add_sub/infer/x", K::kV2ModelOther, "add_sub", "", "", "infer/x", "v2_model"},
    {"/v2/models/add_sub/versions/3/infer/x", K::kV2ModelOther, "add_sub", "3", "", "infer/x", "v2_model"},
    {"/v2/models/versions/infer", K::kV2Infer, "versions", "", "", "infer", "v2_infer"},
    // A decoded path holds any byte but '/' in a segment; a literal '%' is not decoded again.
    {"/v2/models/a%2Fb c@/infer", K::kV2Infer, "a%2Fb c@", "", "", "infer", "v2_infer"},
    {"/ai/run/ocr", K::kTaskRun, "ocr", "", "", "", "task"},
    {"/ai/run/@cf/paddle/pp-ocrv4", K::kTaskRun, "@cf/paddle/pp-ocrv4", "", "", "", "task"},
    {"/ai/run/@cf//paddle/pp-ocrv4/", K::kTaskRun, "@cf/paddle/pp-ocrv4", "", "", "", "task"},
    {"/ai/run", K::kTaskOther, "", "", "", "run"},
    {"/ai", K::kTaskOther},
    {"/ai/unknown/x", K::kTaskOther, "", "", "", "unknown/x"},
    {"/accounts/acme/ai/run/@cf/baai/bge", K::kTaskRun, "@cf/baai/bge", "", "acme", "", "task"},
    {"/accounts/acme/ai/run", K::kTaskOther, "", "", "acme", "run"},
    {"/accounts/acme/ai/models/@cf/baai/bge", K::kTaskModel, "@cf/baai/bge", "", "acme", "", "task_model"},
    {"/accounts/acme/ai/models", K::kTaskModels, "", "", "acme"},
    {"/accounts/acme/ai/models/search", K::kTaskModelSearch, "", "", "acme", "", "task_model_search"},
    {"/accounts/acme", K::kUnknown},
    {"/accounts/acme/v2/models/m/infer", K::kUnknown},
    {"/accounts//ai/run/x", K::kUnknown},
    {"/ai/models", K::kTaskModels},
    {"/ai/models/", K::kTaskModels},
    {"/ai/models/search", K::kTaskModelSearch, "", "", "", "", "task_model_search"},
    {"/ai/models/search/", K::kTaskModelSearch, "", "", "", "", "task_model_search"},
    {"/ai/models/search/x", K::kTaskModel, "search/x", "", "", "", "task_model"},
    {"/ai/models/@cf/paddle/pp-ocrv4", K::kTaskModel, "@cf/paddle/pp-ocrv4", "", "", "", "task_model"},
    {"/ai/run/search", K::kTaskRun, "search", "", "", "", "task"},
    {"/v1/embeddings", K::kOpenAiEmbeddings, "", "", "", "", "openai"},
    {"/v1/models", K::kOpenAiModels},
    {"/v1/models/bge", K::kOpenAiModel, "bge", "", "", "", "task_model"},
    {"/v1/models/a/b", K::kOpenAiOther, "", "", "", "models/a/b"},
    {"/v1", K::kOpenAiOther},
    {"/metrics", K::kMetrics},
    {"/usage", K::kUsage, "", "", "", "", "usage"},
    {"/usage/x", K::kUnknown},
    {"/", K::kUnknown},
    {"", K::kUnknown},
    {"*", K::kUnknown},
    {"/favicon.ico", K::kUnknown},
    {"/V2/models/m/infer", K::kUnknown},
};

TEST(Route, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.path));
    Check(c, ParseRoute(c.path));
  }
}

TEST(Route, EveryParsedRouteRoundTrips) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.path));
    const Route r = ParseRoute(c.path);
    if (r.kind == K::kUnknown) {
      EXPECT_EQ(FormatRoute(r), "");
      continue;
    }
    const std::string formatted = FormatRoute(r);
    Route again = ParseRoute(formatted);
    EXPECT_TRUE(again.canonical) << formatted;
    again.canonical = r.canonical;
    EXPECT_EQ(again, r) << formatted;
  }
}

TEST(Route, CanonicalMeansNoEmptySegment) {
  EXPECT_TRUE(ParseRoute("/ai/run/@cf/meta/x").canonical);
  EXPECT_TRUE(ParseRoute("/").canonical);
  EXPECT_FALSE(ParseRoute("/ai/run/@cf/").canonical);
  EXPECT_FALSE(ParseRoute("/ai/run/a//b").canonical);
  EXPECT_FALSE(ParseRoute("//ai/run/a").canonical);
  EXPECT_FALSE(ParseRoute("ai/run/a").canonical);
  EXPECT_FALSE(ParseRoute("").canonical);
}

// Raw request targets as the server decodes them (http::SplitTarget): an escaped slash splits
// like a slash for every front end, so no two of them can disagree on where a name ends.
TEST(Route, PercentEncodedTargets) {
  struct Raw {
    std::string_view target;
    Case want;
  };
  const Raw raws[] = {
      {"/ai/run/%40cf%2Fpaddle%2Fpp-ocrv4?x=1", {"", K::kTaskRun, "@cf/paddle/pp-ocrv4", "", "", "", "task"}},
      {"/v2/models/a%2Fb/infer", {"", K::kV2ModelOther, "a", "", "", "b/infer", "v2_model"}},
      {"/v2/models/a%252Fb/infer", {"", K::kV2Infer, "a%2Fb", "", "", "infer", "v2_infer"}},
      {"/v2/models/m%20x/versions/%33/infer", {"", K::kV2Infer, "m x", "3", "", "infer", "v2_infer"}},
      {"/%61i/models/%73earch", {"", K::kTaskModelSearch, "", "", "", "", "task_model_search"}},
      {"/accounts/a%2Fb/ai/run/x", {"", K::kUnknown}},
  };
  for (const Raw& raw : raws) {
    SCOPED_TRACE(std::string(raw.target));
    std::string path, query;
    ASSERT_TRUE(http::SplitTarget(raw.target, path, query));
    Check(raw.want, ParseRoute(path));
  }
}

TEST(Route, Versions) {
  EXPECT_EQ(ParseModelVersion("3"), 3);
  EXPECT_EQ(ParseModelVersion("03"), 3);
  EXPECT_EQ(ParseModelVersion("9223372036854775807"), INT64_MAX);
  for (std::string_view bad : {"", "0", "-1", "+1", " 1", "1 ", "1x", "x", "9223372036854775808", "1.0"}) {
    EXPECT_FALSE(ParseModelVersion(bad).has_value()) << bad;
  }
}

TEST(Route, ForwardableRoutesRunAModelAndAreCanonical) {
  EXPECT_TRUE(IsForwardable(ParseRoute("/v2/models/m/infer")));
  EXPECT_TRUE(IsForwardable(ParseRoute("/v2/models/m/versions/2/infer")));
  EXPECT_TRUE(IsForwardable(ParseRoute("/ai/run/@cf/meta/x")));
  EXPECT_TRUE(IsForwardable(ParseRoute("/accounts/acme/ai/run/@cf/meta/x")));
  EXPECT_FALSE(IsForwardable(ParseRoute("/v2/models/m/versions/0/infer")));
  EXPECT_FALSE(IsForwardable(ParseRoute("/v2/models/m/infer/")));
  EXPECT_FALSE(IsForwardable(ParseRoute("/v2/models/m")));
  EXPECT_FALSE(IsForwardable(ParseRoute("/ai/models/m")));
  EXPECT_FALSE(IsForwardable(ParseRoute("/ai/models/search")));
  EXPECT_FALSE(IsForwardable(ParseRoute("/v1/embeddings")));
}

TEST(Route, TaskApiOwnsAiAndV1) {
  for (std::string_view p : {"/ai", "/ai/run/x", "/ai/models/search", "/accounts/a/ai", "/v1", "/v1/x"})
    EXPECT_TRUE(IsTaskApiRoute(ParseRoute(p).kind)) << p;
  for (std::string_view p :
       {"/v2/models/m/infer", "/accounts/a", "/accounts/a/b/run/x", "/metrics", "/usage", "/"})
    EXPECT_FALSE(IsTaskApiRoute(ParseRoute(p).kind)) << p;
}

}  // namespace
}  // namespace continuum
