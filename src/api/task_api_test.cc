#include "api/task_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

namespace continuum {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Holds every run of the "slow" task until opened, so that a saturated executor is observable
// without timing.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int started = 0;

  void Open() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  bool WaitStarted(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return started >= n; });
  }
};

class SlowTask final : public tasks::Task {
 public:
  explicit SlowTask(Gate* gate) : gate_(gate) {}
  StatusOr<tasks::TaskResult> Run(const tasks::TaskRequest& request, tasks::ModelRunner&) const override {
    std::unique_lock lock(gate_->mu);
    ++gate_->started;
    gate_->cv.notify_all();
    gate_->cv.wait(lock, [&] { return gate_->open; });
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

// One task API over a catalog with a single "slow" entry, an executor of one thread.
class TaskApiTest : public ::testing::Test {
 protected:
  void Start(size_t queue, int64_t queue_bytes) {
    dir_ = fs::temp_directory_path() / ("continuum-task-api-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "slow");
    std::ofstream(dir_ / "slow" / "catalog.json")
        << R"({"schema_version": 1, "name": "@test/slow", "task": "slow"})";
    registry_.Register("slow",
                       [this](const tasks::CatalogEntry&,
                              const tasks::TaskLimits&) -> StatusOr<std::unique_ptr<tasks::Task>> {
                         return std::unique_ptr<tasks::Task>(std::make_unique<SlowTask>(&gate_));
                       });
    auto catalog = tasks::Catalog::Load(dir_, registry_, limits_);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    ASSERT_NE(catalog_->Find("@test/slow"), nullptr);
    ASSERT_NE(catalog_->Find("@test/slow")->task, nullptr);
    executor_ = std::make_unique<tasks::TaskExecutor>(1, queue, queue_bytes);
    api_ = std::make_unique<TaskApi>(catalog_.get(), &runner_, executor_.get(), limits_);
  }
  void TearDown() override {
    gate_.Open();
    if (executor_) executor_->Shutdown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Occupies the executor's only thread with a held task (answer 0).
  void Saturate() {
    api_->Handle(Post("held"), answers_.For(0));
    ASSERT_TRUE(gate_.WaitStarted(1));
  }

  Gate gate_;
  tasks::TaskRegistry registry_;
  tasks::TaskLimits limits_;
  NoModels runner_;
  fs::path dir_;
  std::unique_ptr<tasks::Catalog> catalog_;
  std::unique_ptr<tasks::TaskExecutor> executor_;
  std::unique_ptr<TaskApi> api_;
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

TEST(DecodeTaskRequest, RawBodyIsMovedNotCopied) {
  std::string body(4096, 'x');
  const char* bytes = body.data();
  auto r = DecodeTaskRequest(Post(std::move(body), "image/png"), tasks::TaskLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->binary.data(), bytes);  // the same buffer
}

}  // namespace
}  // namespace continuum
