// V2Api over a real repository (generated test models): what Triton's HTTP client sends beyond
// plain JSON (compressed bodies, load/unload parameters) is answered as Triton answers it.
#include "api/v2_api.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "api/content_coding.h"
#include "common/log.h"
#include "common/test_temp_dir.h"
#include "http/test_util.h"
#include "telemetry/metrics.h"

namespace continuum {
namespace {

namespace fs = std::filesystem;
const fs::path kModels = CONTINUUM_TEST_MODELS;

runtime::Engine& TestEngine() {
  static std::unique_ptr<runtime::Engine> engine = [] {
    SetLogLevel(LogLevel::kError);
    auto e = runtime::Engine::Create({.intra_op_threads = 1});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }();
  return *engine;
}

std::string AddSubBody() {
  std::string data;
  for (int i = 0; i < 16; ++i) data += (i ? "," : "") + std::to_string(i);
  return R"({"id":"z","inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[)" + data +
         R"(]},{"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[)" + data + "]}]}";
}

const std::string* FindHeader(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

class V2ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root_.path() / "add_sub" / "1");
    fs::create_symlink(kModels / "add_sub" / "1" / "model.onnx",
                       root_.path() / "add_sub" / "1" / "model.onnx");
    RepositoryOptions o;
    o.root = root_.path();
    o.mode = ModelControlMode::kExplicit;
    o.startup_models = {"add_sub"};
    repo_ = std::make_unique<ModelRepository>(o, &TestEngine(), nullptr);
    ASSERT_TRUE(repo_->Start().ok());
    V2ApiOptions options;
    options.max_decoded_body_bytes = 4096;
    api_ = std::make_unique<V2Api>(options, repo_.get(), &registry_);
  }
  void TearDown() override {
    api_.reset();
    repo_.reset();
  }

  http::Response Call(std::string method, std::string path, std::string body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    return http::testing::Call(
        [this](http::Request&& req, http::Responder respond) {
          api_->Handle(std::move(req), std::move(respond));
        },
        http::testing::MakeRequest(std::move(method), std::move(path), std::move(body), std::move(headers)));
  }

  testing::TempDir root_{"v2_api_test_"};
  telemetry::Registry registry_;
  std::unique_ptr<ModelRepository> repo_;
  std::unique_ptr<V2Api> api_;
};

TEST_F(V2ApiTest, CompressedRequestBodyIsInflated) {
  for (auto coding : {v2::ContentCoding::kGzip, v2::ContentCoding::kDeflate}) {
    SCOPED_TRACE(v2::ContentCodingName(coding));
    auto body = v2::EncodeBody(AddSubBody(), coding);
    ASSERT_TRUE(body.ok());
    http::Response r = Call("POST", "/v2/models/add_sub/infer", *body,
                            {{"content-encoding", v2::ContentCodingName(coding)}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find(R"("id":"z")"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(R"("data":[0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30])"), std::string::npos)
        << r.body;
  }
}

TEST_F(V2ApiTest, CompressedRequestErrors) {
  http::Response r = Call("POST", "/v2/models/add_sub/infer", AddSubBody(), {{"content-encoding", "br"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            R"x({"error":"header Content-Encoding: 'br' is not supported (gzip, deflate or identity)"})x");
  r = Call("POST", "/v2/models/add_sub/infer", AddSubBody(), {{"content-encoding", "gzip"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not valid gzip data"), std::string::npos) << r.body;
  // Within --max-body-bytes on the wire, beyond it once inflated: 413.
  auto bomb = v2::EncodeBody(std::string(256 << 10, ' '), v2::ContentCoding::kGzip);
  ASSERT_TRUE(bomb.ok());
  ASSERT_LT(bomb->size(), 4096u);
  r = Call("POST", "/v2/models/add_sub/infer", *bomb, {{"content-encoding", "gzip"}});
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(
      r.body,
      R"x({"error":"request body (Content-Encoding: gzip): inflates to more than 4096 bytes (--max-body-bytes)"})x");
}

TEST_F(V2ApiTest, ResponseIsCompressedWhenAccepted) {
  http::Response plain = Call("POST", "/v2/models/add_sub/infer", AddSubBody());
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(FindHeader(plain, "Content-Encoding"), nullptr);
  for (auto coding : {v2::ContentCoding::kGzip, v2::ContentCoding::kDeflate}) {
    SCOPED_TRACE(v2::ContentCodingName(coding));
    http::Response r = Call("POST", "/v2/models/add_sub/infer", AddSubBody(),
                            {{"accept-encoding", v2::ContentCodingName(coding)}});
    ASSERT_EQ(r.status, 200);
    const std::string* ce = FindHeader(r, "Content-Encoding");
    ASSERT_NE(ce, nullptr);
    EXPECT_EQ(*ce, v2::ContentCodingName(coding));
    auto decoded = v2::DecodeBody(r.body, coding, 1 << 20);
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    EXPECT_EQ(*decoded, plain.body);
  }
}

TEST_F(V2ApiTest, LoadRefusesAConfigOverrideInsteadOfIgnoringIt) {
  ASSERT_EQ(Call("POST", "/v2/repository/models/add_sub/unload", "").status, 200);
  http::Response r = Call("POST", "/v2/repository/models/add_sub/load",
                          R"({"parameters":{"config":"{\"max_batch_size\":1}"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(
      r.body,
      R"x({"error":"load request: parameters: 'config' is not supported (the model's config.json in the repository is its configuration)"})x");
  EXPECT_FALSE(repo_->Get("add_sub").ok());
  EXPECT_EQ(Call("POST", "/v2/repository/models/add_sub/load", "[1]").status, 400);
  EXPECT_EQ(Call("POST", "/v2/repository/models/add_sub/load", R"({"parameters":1})").status, 400);
  EXPECT_EQ(Call("POST", "/v2/repository/models/add_sub/load", "{}").status, 200);
  EXPECT_TRUE(repo_->Get("add_sub").ok());
}

TEST_F(V2ApiTest, UnloadTakesUnloadDependents) {
  // What tritonclient.http's unload_model always sends.
  http::Response r =
      Call("POST", "/v2/repository/models/add_sub/unload", R"({"parameters":{"unload_dependents":false}})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(repo_->Get("add_sub").ok());
  r = Call("POST", "/v2/repository/models/add_sub/unload", R"({"parameters":{"unload_dependents":"yes"}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":"unload request: 'parameters.unload_dependents' must be true or false"})");
}

}  // namespace
}  // namespace continuum
