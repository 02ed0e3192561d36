#include "api/task_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/base64.h"
#include "common/test_temp_dir.h"
#include "tasks/test_gate.h"

namespace continuum {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Holds every run of the "slow" task until opened, so that a saturated executor is observable
// without timing.
using tasks::testing::Gate;

class SlowTask final : public tasks::Task {
 public:
  explicit SlowTask(Gate* gate) : gate_(gate) {}
  StatusOr<tasks::TaskResult> Run(const tasks::TaskRequest& request, tasks::ModelRunner&) const override {
    gate_->Enter();
    return tasks::TaskResult{std::to_string(request.binary.size()), {}, 0};
  }
  std::string InputSchema() const override { return "{}"; }
  std::string OutputSchema() const override { return "{}"; }

 private:
  Gate* gate_;
};

class NoModels final : public tasks::ModelRunner {
 public:
  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor>,
                                                      std::vector<std::string>) override {
    std::promise<StatusOr<std::vector<Tensor>>> p;
    p.set_value(NotFound("no model '" + model + "' in this test"));
    return p.get_future();
  }
};

// Answers collected by request index.
class Answers {
 public:
  http::Responder For(int i) {
    return [this, i](http::Response r) {
      std::lock_guard lock(mu_);
      got_[i] = std::move(r);
      cv_.notify_all();
    };
  }
  std::optional<http::Response> Get(int i) {
    std::lock_guard lock(mu_);
    auto it = got_.find(i);
    if (it == got_.end()) return std::nullopt;
    return it->second;
  }
  bool WaitFor(int i) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return got_.count(i) > 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, http::Response> got_;
};

http::Request Post(std::string body, std::string content_type = "application/octet-stream") {
  http::Request r;
  r.method = "POST";
  r.path = "/ai/run/@test/slow";
  r.headers.emplace_back("content-type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

// A task API over a catalog written into a fresh folder named after the test, with an executor
// of one thread.
class CatalogApiTest : public ::testing::Test {
 protected:
  explicit CatalogApiTest(const std::string& prefix) : dir_(prefix) {}

  void WriteEntry(const std::string& slug, const std::string& json) {
    fs::create_directories(dir_.path() / slug);
    std::ofstream(dir_.path() / slug / "catalog.json") << json;
  }
  void StartApi(size_t queue, int64_t queue_bytes) {
    auto catalog = tasks::Catalog::Load(dir_.path(), registry_, limits_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    executor_ = std::make_unique<tasks::TaskExecutor>(1, queue, queue_bytes);
    api_ = std::make_unique<TaskApi>(catalog_.get(), &runner_, executor_.get(), limits_);
  }
  void TearDown() override {
    if (executor_) executor_->Shutdown();
  }

  tasks::TaskRegistry registry_;
  tasks::TaskLimits limits_;
  NoModels runner_;
  testing::TempDir dir_;
  std::unique_ptr<tasks::Catalog> catalog_;
  std::unique_ptr<tasks::TaskExecutor> executor_;
  std::unique_ptr<TaskApi> api_;
};

// One task API over a catalog with a single "slow" entry.
class TaskApiTest : public CatalogApiTest {
 protected:
  TaskApiTest() : CatalogApiTest("continuum-task-api-") {}
  void Start(size_t queue, int64_t queue_bytes) {
    WriteEntry("slow", R"({"schema_version": 1, "name": "@test/slow", "task": "slow"})");
    registry_.Register("slow",
                       [this](const tasks::CatalogEntry&,
                              const tasks::TaskLimits&) -> StatusOr<std::unique_ptr<tasks::Task>> {
                         return std::unique_ptr<tasks::Task>(std::make_unique<SlowTask>(&gate_));
                       });
    ASSERT_NO_FATAL_FAILURE(StartApi(queue, queue_bytes));
    ASSERT_NE(catalog_->Find("@test/slow"), nullptr);
    ASSERT_NE(catalog_->Find("@test/slow")->task, nullptr);
  }
  void TearDown() override {
    gate_.Open();
    CatalogApiTest::TearDown();
  }
  // Occupies the executor's only thread with a held task (answer 0).
  void Saturate() {
    api_->Handle(Post("held"), answers_.For(0));
    ASSERT_TRUE(gate_.WaitStarted(1));
  }

  Gate gate_;
  Answers answers_;
};

TEST_F(TaskApiTest, OversizeImageIsRefusedAtOnceWhileTheExecutorIsSaturated) {
  limits_.max_image_bytes = 1024;
  Start(8, 1 << 20);
  Saturate();
  api_->Handle(Post("queued"), answers_.For(1));
  ASSERT_EQ(executor_->queued(), 1u);

  // Answered inside Handle, on the calling (I/O) thread, while every task thread is held.
  api_->Handle(Post(std::string(4096, 'x')), answers_.For(2));
  auto r = answers_.Get(2);
  ASSERT_TRUE(r.has_value()) << "the oversize body was queued instead of refused";
  EXPECT_EQ(r->status, 413);
  EXPECT_THAT(r->body, HasSubstr(R"("success":false)"));
  EXPECT_THAT(r->body, HasSubstr("request body (image): 4096 bytes, more than the limit of 1024"));
  EXPECT_THAT(r->body, HasSubstr("--max-image-bytes"));
  EXPECT_EQ(executor_->queued(), 1u);

  gate_.Open();
  ASSERT_TRUE(answers_.WaitFor(0));
  ASSERT_TRUE(answers_.WaitFor(1));
  EXPECT_EQ(answers_.Get(1)->status, 200);
  EXPECT_THAT(answers_.Get(1)->body, HasSubstr(R"("result":6)"));
}

TEST_F(TaskApiTest, TaskQueueIsBoundedByBytes) {
  Start(100, 3000);
  Saturate();
  for (int i = 1; i <= 3; ++i) api_->Handle(Post(std::string(1000, 'x')), answers_.For(i));
  EXPECT_EQ(executor_->queued(), 3u);
  EXPECT_EQ(executor_->queued_bytes(), 3000);
  api_->Handle(Post(std::string(10, 'x')), answers_.For(4));
  auto r = answers_.Get(4);
  ASSERT_TRUE(r.has_value()) << "queued beyond the byte budget";
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("--task-queue-bytes"));
  bool retry_after = false;
  for (const auto& [k, v] : r->headers) retry_after |= k == "Retry-After";
  EXPECT_TRUE(retry_after);

  gate_.Open();
  for (int i = 0; i <= 3; ++i) {
    ASSERT_TRUE(answers_.WaitFor(i));
    EXPECT_EQ(answers_.Get(i)->status, 200) << answers_.Get(i)->body;
  }
  EXPECT_EQ(executor_->queued_bytes(), 0);
}

// ---------------------------------------------------------------------------------------------
// Decoding: every byte limit, before anything is allocated for the field

StatusOr<tasks::TaskRequest> Decode(std::string body, const tasks::TaskLimits& limits,
                                    std::string content_type = "application/json") {
  return DecodeTaskRequest(Post(std::move(body), std::move(content_type)), limits);
}

void ExpectTooLarge(const StatusOr<tasks::TaskRequest>& r, std::string_view where, std::string_view flag) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPayloadTooLarge) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(where) + ": "));
  EXPECT_THAT(r.status().message(), HasSubstr(std::string(flag)));
}

// A catalog of three entries (two kinds) for the listing route; no task runs.
class ModelSearchTest : public CatalogApiTest {
 protected:
  ModelSearchTest() : CatalogApiTest("continuum-model-search-") {}
  void SetUp() override {
    WriteEntry("a", R"({"schema_version":1,"name":"@cf/acme/sentiment","task":"text-classification",
                  "description":"Tells positive from negative reviews","license":"MIT","source":"here"})");
    WriteEntry("b", R"({"schema_version":1,"name":"@cf/acme/embed-small","task":"text-embeddings",
                  "description":"Sentence vectors"})");
    WriteEntry("c", R"({"schema_version":1,"name":"@cf/other/embed-large","task":"text-embeddings",
                  "description":"Larger sentence vectors"})");
    for (const char* kind : {"text-classification", "text-embeddings"}) {
      registry_.Register(
          kind,
          [](const tasks::CatalogEntry&, const tasks::TaskLimits&) -> StatusOr<std::unique_ptr<tasks::Task>> {
            return std::unique_ptr<tasks::Task>(std::make_unique<SlowTask>(nullptr));
          });
    }
    StartApi(4, 1 << 20);
  }
  http::Response Get(std::string path, std::string query = "") {
    http::Request r;
    r.method = "GET";
    r.path = std::move(path);
    r.query = std::move(query);
    std::optional<http::Response> got;
    api_->Handle(std::move(r), [&](http::Response resp) { got = std::move(resp); });
    EXPECT_TRUE(got.has_value());  // answered at once, on the calling thread
    return got.value_or(http::Response{});
  }
  // The "name"s of the result, in order.
  static std::vector<std::string> Names(const std::string& body) {
    simdjson::dom::parser p;
    simdjson::dom::element root;
    std::vector<std::string> names;
    if (p.parse(body).get(root)) return {"<not JSON>"};
    simdjson::dom::array result;
    if (root["result"].get_array().get(result)) return {"<no result array>"};
    for (auto m : result) names.emplace_back(std::string_view(m["name"].get_string().value_unsafe()));
    return names;
  }
  static int64_t Info(const std::string& body, const char* field) {
    simdjson::dom::parser p;
    int64_t v = -1;
    if (p.parse(body)["result_info"][field].get_int64().get(v)) return -1;
    return v;
  }
};

TEST_F(ModelSearchTest, ListsTheCatalogInTheWorkersAiShape) {
  for (const char* path : {"/accounts/acct-1/ai/models/search", "/ai/models/search"}) {
    http::Response r = Get(path);
    ASSERT_EQ(r.status, 200) << path << " " << r.body;
    EXPECT_EQ(Names(r.body), (std::vector<std::string>{"@cf/acme/embed-small", "@cf/acme/sentiment",
                                                       "@cf/other/embed-large"}))
        << r.body;
    simdjson::dom::parser p;
    simdjson::dom::element root = p.parse(r.body).value();
    EXPECT_TRUE(root["success"].get_bool().value());
    EXPECT_EQ(root["errors"].get_array().size(), 0u);
    simdjson::dom::element m = root["result"].at(1);
    EXPECT_EQ(std::string_view(m["id"].get_string().value()), "@cf/acme/sentiment");
    EXPECT_EQ(std::string_view(m["description"].get_string().value()),
              "Tells positive from negative reviews");
    EXPECT_EQ(std::string_view(m["task"]["id"].get_string().value()), "text-classification");
    EXPECT_EQ(std::string_view(m["task"]["name"].get_string().value()), "Text Classification");
    EXPECT_FALSE(std::string_view(m["task"]["description"].get_string().value()).empty());
    EXPECT_THAT(simdjson::to_string(m["properties"]),
                HasSubstr(R"({"property_id":"license","value":"MIT"})"));
    EXPECT_EQ(Info(r.body, "page"), 1);
    EXPECT_EQ(Info(r.body, "count"), 3);
    EXPECT_EQ(Info(r.body, "total_count"), 3);
  }
}

TEST_F(ModelSearchTest, FiltersByTaskAndSearchAndPages) {
  // The task by its name (as Cloudflare's clients send it, form-encoded) or by its kind.
  EXPECT_EQ(Names(Get("/ai/models/search", "task=Text+Embeddings").body),
            (std::vector<std::string>{"@cf/acme/embed-small", "@cf/other/embed-large"}));
  EXPECT_EQ(Names(Get("/ai/models/search", "task=text-classification").body),
            (std::vector<std::string>{"@cf/acme/sentiment"}));
  // Search: case-insensitive, in the name or the description; percent-escapes decoded.
  EXPECT_EQ(Names(Get("/ai/models/search", "search=LARGER%20sentence").body),
            (std::vector<std::string>{"@cf/other/embed-large"}));
  EXPECT_EQ(Names(Get("/ai/models/search", "search=acme&task=Text%20Embeddings").body),
            (std::vector<std::string>{"@cf/acme/embed-small"}));
  EXPECT_EQ(Names(Get("/ai/models/search", "author=other").body),
            (std::vector<std::string>{"@cf/other/embed-large"}));
  // Pages of two: the second holds the rest, the third nothing (where a client's paging stops).
  http::Response r = Get("/ai/models/search", "per_page=2&page=2");
  EXPECT_EQ(Names(r.body), (std::vector<std::string>{"@cf/other/embed-large"}));
  EXPECT_EQ(Info(r.body, "page"), 2);
  EXPECT_EQ(Info(r.body, "per_page"), 2);
  EXPECT_EQ(Info(r.body, "count"), 1);
  EXPECT_EQ(Info(r.body, "total_count"), 3);
  r = Get("/ai/models/search", "per_page=2&page=3");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Names(r.body), (std::vector<std::string>{}));
  EXPECT_EQ(Info(r.body, "total_count"), 3);
}

TEST_F(ModelSearchTest, BadParametersAre400NamingThem) {
  for (const char* q : {"page=0", "page=x", "per_page=-1", "per_page=", "page=99999999999999999999",
                        "hide_experimental=maybe", "color=red", "search=%zz"}) {
    http::Response r = Get("/ai/models/search", q);
    EXPECT_EQ(r.status, 400) << q << " " << r.body;
    const std::string name(std::string_view(q).substr(0, std::string_view(q).find('=')));
    EXPECT_THAT(r.body, HasSubstr("'" + name + "'")) << q;
    EXPECT_THAT(r.body, HasSubstr(R"("success":false)")) << q;
  }
  EXPECT_EQ(Get("/ai/models/search", "hide_experimental=true").status, 200);
}

TEST(DecodeTaskRequest, ImageLimitHoldsForEveryEncoding) {
  tasks::TaskLimits limits;
  limits.max_image_bytes = 30;
  limits.max_audio_bytes = 1000;
  const std::string image(31, 'i');
  ExpectTooLarge(Decode(R"({"image": ")" + Base64Encode(image) + R"("})", limits), "image",
                 "--max-image-bytes");
  ExpectTooLarge(Decode(R"({"image": "data:image/png;base64,)" + Base64Encode(image) + R"("})", limits),
                 "image", "--max-image-bytes");
  std::string array = "[";
  for (size_t i = 0; i < image.size(); ++i) array += i ? ",1" : "1";
  ExpectTooLarge(Decode(R"({"image": )" + array + "]}", limits), "image", "--max-image-bytes");
  ExpectTooLarge(Decode(image, limits, "image/png"), "request body (image)", "--max-image-bytes");
  // At the limit: accepted, whichever the encoding (padding included).
  for (size_t n : {28u, 29u, 30u}) {
    auto ok = Decode(R"({"image": ")" + Base64Encode(std::string(n, 'i')) + R"("})", limits);
    ASSERT_TRUE(ok.ok()) << n << ": " << ok.status().ToString();
    EXPECT_EQ(ok->binary.size(), n);
  }
  auto raw = Decode(std::string(30, 'i'), limits, "image/png");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->binary, std::string(30, 'i'));
}

TEST(DecodeTaskRequest, AudioHasItsOwnLimit) {
  tasks::TaskLimits limits;
  limits.max_image_bytes = 1000;
  limits.max_audio_bytes = 40;
  std::string wav = std::string("RIFF\x24\0\0\0WAVE", 12) + std::string(29, 'a');  // 41 bytes
  ExpectTooLarge(Decode(wav, limits, "audio/wav"), "request body (audio)", "--max-audio-bytes");
  ExpectTooLarge(Decode(R"({"audio": ")" + Base64Encode(wav) + R"("})", limits), "audio",
                 "--max-audio-bytes");
  wav.pop_back();
  EXPECT_TRUE(Decode(wav, limits, "audio/wav").ok());
  // Audio is not held to the image limit.
  limits.max_image_bytes = 10;
  EXPECT_TRUE(Decode(R"({"audio": ")" + Base64Encode(wav) + R"("})", limits).ok());
}

TEST(DecodeTaskRequest, TextLimitNamesTheText) {
  tasks::TaskLimits limits;
  limits.max_text_bytes = 8;
  ExpectTooLarge(Decode(R"({"text": "123456789"})", limits), "text", "--max-text-bytes");
  ExpectTooLarge(Decode(R"({"text": ["ok", "123456789"]})", limits), "text[1]", "--max-text-bytes");
  ExpectTooLarge(Decode(R"({"input": ["123456789"]})", limits), "input[0]", "--max-text-bytes");
  auto ok = Decode(R"({"text": ["12345678"]})", limits);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->texts, std::vector<std::string>{"12345678"});
}

// --max-texts counts every text of the request: a string "text" or "input", and one given again
// (JSON objects may repeat a key), count as well as the items of an array.
TEST(DecodeTaskRequest, TextCountLimitCountsEveryText) {
  tasks::TaskLimits limits;
  limits.max_texts = 2;
  for (const char* body :
       {R"({"text": "a", "text": "b", "input": "c"})", R"({"text": ["a", "b"], "input": "c"})",
        R"({"text": "a", "input": ["b", "c"]})"}) {
    auto r = Decode(body, limits);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_THAT(r.status().message(), HasSubstr("more than 2 texts")) << body;
  }
  auto ok = Decode(R"({"text": "a", "input": "b"})", limits);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->texts, (std::vector<std::string>{"a", "b"}));
}

TEST(DecodeTaskRequest, RawBodyIsMovedNotCopied) {
  std::string body(4096, 'x');
  const char* bytes = body.data();
  auto r = DecodeTaskRequest(Post(std::move(body), "image/png"), tasks::TaskLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->binary.data(), bytes);  // the same buffer
}

}  // namespace
}  // namespace continuum
