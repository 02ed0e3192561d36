#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "scheduler/fake_session.h"
#include "scheduler/stats.h"
#include "scheduler/test_util.h"
#include "telemetry/metrics.h"

namespace continuum {
namespace {

namespace fs = std::filesystem;
using namespace scheduler_test;  // NOLINT
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void ExpectAddSubOutputs(const InferResponse& resp, int64_t rows, float base) {
  ASSERT_EQ(resp.outputs.size(), 2u);
  EXPECT_EQ(resp.outputs[0].name, "OUTPUT0");
  EXPECT_EQ(resp.outputs[1].name, "OUTPUT1");
  EXPECT_EQ(resp.outputs[0].shape, (Shape{rows, 16}));
  EXPECT_EQ(resp.outputs[1].shape, (Shape{rows, 16}));
  auto sum = Floats(resp.outputs[0]), diff = Floats(resp.outputs[1]);
  ASSERT_EQ(sum.size(), static_cast<size_t>(rows) * 16);
  ASSERT_EQ(diff.size(), static_cast<size_t>(rows) * 16);
  for (size_t i = 0; i < sum.size(); ++i) {
    EXPECT_FLOAT_EQ(sum[i], base + static_cast<float>(i) + 0.5f) << "element " << i;
    EXPECT_FLOAT_EQ(diff[i], base + static_cast<float>(i) - 0.5f) << "element " << i;
  }
}

int64_t JsonInt(const std::string& json, const std::string& key) {
  auto pos = json.find("\"" + key + "\":");
  if (pos == std::string::npos) return -1;
  return std::stoll(json.substr(pos + key.size() + 3));
}
int64_t ExecutionCount(const ModelStats& s) { return JsonInt(s.ToJson(), "execution_count"); }
int64_t InferenceCount(const ModelStats& s) { return JsonInt(s.ToJson(), "inference_count"); }
// inference_stats.fail.count
int64_t FailCount(const ModelStats& s) {
  std::string j = s.ToJson();
  return JsonInt(j.substr(j.find("\"fail\":")), "count");
}

SchedulerOptions Batching(int64_t max_batch, int64_t delay_us, std::vector<int64_t> preferred = {}) {
  SchedulerOptions o;
  o.max_batch_size = max_batch;
  o.dynamic_batching = DynamicBatchingConfig{std::move(preferred), delay_us};
  return o;
}

// A scheduler over one fake instance, with statistics: what a test drives and reads.
struct FakeModel {
  explicit FakeModel(SchedulerOptions o) : s(Fakes(probe), std::move(o), &stats) {}
  std::shared_ptr<Probe> probe = std::make_shared<Probe>();
  ModelStats stats{nullptr, "m", 1};
  Results res;
  Scheduler s;  // declared last: shut down before the rest goes
};

// =============================================================================================
// ValidateRequest

TEST(Scheduler, RunsOneRequestAndEchoesIdAndParameters) {
  ModelStats stats(nullptr, "add_sub", 1);
  Results res;
  Scheduler s(Sessions("add_sub"), {}, &stats);
  InferRequest r = AddSubRequest(3, 10);
  r.id = "req-42";
  r.parameters_json = R"({"trace":true})";
  ASSERT_TRUE(s.Enqueue(std::move(r), res.Callback(0)).ok());
  ASSERT_TRUE(res.WaitFor(1));
  const auto& out = res.at(0);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->id, "req-42");
  EXPECT_EQ(out->parameters_json, R"({"trace":true})");
  EXPECT_EQ(out->model_name, "add_sub");
  EXPECT_EQ(out->model_version, 1);
  ExpectAddSubOutputs(*out, 3, 10);
  EXPECT_EQ(out->binary, (std::vector<bool>{false, false}));
  s.Shutdown();
  EXPECT_EQ(res.calls(0), 1);
  EXPECT_EQ(ExecutionCount(stats), 1);
  EXPECT_EQ(InferenceCount(stats), 1);  // not batching: one request counts once
}

TEST(Scheduler, RequestedOutputSubsetAndBinaryFlags) {
  Results res;
  Scheduler s(Sessions("add_sub"), {}, nullptr);
  InferRequest a = AddSubRequest(1, 0);
  a.outputs = {{"OUTPUT1", true}};
  InferRequest b = AddSubRequest(1, 0);
  b.outputs = {{"OUTPUT1", false}, {"OUTPUT0", true}};
  InferRequest c = AddSubRequest(1, 0);
  c.binary_data_output = true;  // applies to every output when none is listed
  ASSERT_TRUE(s.Enqueue(std::move(a), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(std::move(b), res.Callback(1)).ok());
  ASSERT_TRUE(s.Enqueue(std::move(c), res.Callback(2)).ok());
  ASSERT_TRUE(res.WaitFor(3));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(res.at(i).ok()) << res.at(i).status().ToString();

  const InferResponse& ra = *res.at(0);
  ASSERT_EQ(ra.outputs.size(), 1u);
  EXPECT_EQ(ra.outputs[0].name, "OUTPUT1");
  EXPECT_FLOAT_EQ(Floats(ra.outputs[0])[2], 1.5f);
  EXPECT_EQ(ra.binary, std::vector<bool>{true});

  const InferResponse& rb = *res.at(1);
  ASSERT_EQ(rb.outputs.size(), 2u);
  EXPECT_EQ(rb.outputs[0].name, "OUTPUT1");
  EXPECT_EQ(rb.outputs[1].name, "OUTPUT0");
  EXPECT_FLOAT_EQ(Floats(rb.outputs[1])[2], 2.5f);
  EXPECT_EQ(rb.binary, (std::vector<bool>{false, true}));

  const InferResponse& rc = *res.at(2);
  ASSERT_EQ(rc.outputs.size(), 2u);
  EXPECT_EQ(rc.binary, (std::vector<bool>{true, true}));
}

TEST(Scheduler, DynamicBatchingMergesConcurrentRequests) {
  ModelStats stats(nullptr, "add_sub", 1);
  Results res;
  Scheduler s(Sessions("add_sub"), Batching(16, 50'000), &stats);
  const int64_t rows[] = {1, 2, 3, 1, 2, 3};
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(s.Enqueue(AddSubRequest(rows[i], 1000.0f * static_cast<float>(i)), res.Callback(i)).ok());
  }
  ASSERT_TRUE(res.WaitFor(6));
  for (int i = 0; i < 6; ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_TRUE(res.at(i).ok()) << res.at(i).status().ToString();
    ExpectAddSubOutputs(*res.at(i), rows[i], 1000.0f * static_cast<float>(i));
  }
  s.Shutdown();
  EXPECT_LT(ExecutionCount(stats), 6) << stats.ToJson();
  EXPECT_EQ(InferenceCount(stats), 12) << stats.ToJson();  // rows, not requests
}

TEST(Scheduler, BatchIsCutAtThePreferredSizeAndMatchesOneByOne) {
  // A queue delay far beyond the test's patience: only reaching the preferred size cuts it.
  ModelStats stats(nullptr, "add_sub", 1);
  Results batched;
  Scheduler s(Sessions("add_sub"), Batching(16, 10'000'000, {9}), &stats);
  const int64_t rows[] = {2, 1, 4, 2};
  for (int i = 0; i < 4; ++i) {
    InferRequest r = AddSubRequest(rows[i], -50.0f * static_cast<float>(i));
    r.id = "b" + std::to_string(i);
    ASSERT_TRUE(s.Enqueue(std::move(r), batched.Callback(i)).ok());
  }
  ASSERT_TRUE(batched.WaitFor(4, 5s)) << "the batch was not cut at its preferred size";
  EXPECT_EQ(ExecutionCount(stats), 1);
  EXPECT_NE(stats.ToJson().find("\"batch_size\":9"), std::string::npos) << stats.ToJson();
  // One run carried all four: each answer reports that run, and its share of the run's rows.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(batched.at(i).ok());
    EXPECT_GT(batched.at(i)->run_ns, 0);
    EXPECT_EQ(batched.at(i)->run_ns, batched.at(0)->run_ns);
    EXPECT_DOUBLE_EQ(batched.at(i)->batch_share, static_cast<double>(rows[i]) / 9.0);
  }

  Results single;
  Scheduler one(Sessions("add_sub"), {}, nullptr);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(one.Enqueue(AddSubRequest(rows[i], -50.0f * static_cast<float>(i)), single.Callback(i)).ok());
  }
  ASSERT_TRUE(single.WaitFor(4));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(batched.at(i).ok() && single.at(i).ok());
    const InferResponse& b = *batched.at(i);
    const InferResponse& o = *single.at(i);
    EXPECT_EQ(b.id, "b" + std::to_string(i));
    ASSERT_EQ(b.outputs.size(), o.outputs.size());
    for (size_t k = 0; k < b.outputs.size(); ++k) {
      EXPECT_EQ(b.outputs[k].name, o.outputs[k].name);
      EXPECT_EQ(b.outputs[k].shape, o.outputs[k].shape);
      EXPECT_EQ(b.outputs[k].data, o.outputs[k].data) << "request " << i << " output " << k;
    }
  }
}

TEST(Scheduler, BatchedRequestsGetTheirOwnOutputSelection) {
  Results res;
  ModelStats stats(nullptr, "add_sub", 1);
  Scheduler s(Sessions("add_sub"), Batching(8, 10'000'000, {3}), &stats);
  InferRequest a = AddSubRequest(1, 0);
  a.outputs = {{"OUTPUT1", true}};
  a.id = "a";
  InferRequest b = AddSubRequest(1, 100);
  b.binary_data_output = true;
  b.id = "b";
  b.parameters_json = R"({"k":1})";
  InferRequest c = AddSubRequest(1, 200);
  c.outputs = {{"OUTPUT0", false}};
  c.id = "c";
  ASSERT_TRUE(s.Enqueue(std::move(a), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(std::move(b), res.Callback(1)).ok());
  ASSERT_TRUE(s.Enqueue(std::move(c), res.Callback(2)).ok());
  ASSERT_TRUE(res.WaitFor(3, 5s));
  EXPECT_EQ(ExecutionCount(stats), 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(res.at(i).ok()) << res.at(i).status().ToString();

  const InferResponse& ra = *res.at(0);
  EXPECT_EQ(ra.id, "a");
  ASSERT_EQ(ra.outputs.size(), 1u);
  EXPECT_EQ(ra.outputs[0].name, "OUTPUT1");
  EXPECT_EQ(ra.outputs[0].shape, (Shape{1, 16}));
  EXPECT_FLOAT_EQ(Floats(ra.outputs[0])[1], 0.5f);
  EXPECT_EQ(ra.binary, std::vector<bool>{true});

  const InferResponse& rb = *res.at(1);
  EXPECT_EQ(rb.id, "b");
  EXPECT_EQ(rb.parameters_json, R"({"k":1})");
  ExpectAddSubOutputs(rb, 1, 100);
  EXPECT_EQ(rb.binary, (std::vector<bool>{true, true}));

  const InferResponse& rc = *res.at(2);
  EXPECT_EQ(rc.id, "c");
  ASSERT_EQ(rc.outputs.size(), 1u);
  EXPECT_EQ(rc.outputs[0].name, "OUTPUT0");
  EXPECT_FLOAT_EQ(Floats(rc.outputs[0])[1], 201.5f);
  EXPECT_EQ(rc.binary, std::vector<bool>{false});
}

TEST(Scheduler, BytesTensorsSplitPerRequest) {
  ModelStats stats(nullptr, "identity_string", 1);
  Results res;
  Scheduler s(Sessions("identity_string"), Batching(8, 10'000'000, {7}), &stats);
  const int64_t rows[] = {1, 2, 1, 3};
  std::vector<std::vector<std::string>> sent(4);
  for (int i = 0; i < 4; ++i) {
    Tensor t{"INPUT0", DataType::kBytes, {rows[i], 4}, ""};
    for (int64_t e = 0; e < rows[i] * 4; ++e) {
      std::string v = "r" + std::to_string(i) + "e" + std::to_string(e);
      if (e == 1) v = "";                          // empty elements
      if (e == 2) v = std::string("n\0l", 3) + v;  // embedded NUL
      if (e == 3) v.assign(static_cast<size_t>(40 + i), 'x');
      sent[static_cast<size_t>(i)].push_back(v);
      AppendBytesElement(t.data, v);
    }
    InferRequest r;
    r.inputs.push_back(std::move(t));
    ASSERT_TRUE(s.Enqueue(std::move(r), res.Callback(i)).ok());
  }
  ASSERT_TRUE(res.WaitFor(4, 5s));
  EXPECT_EQ(ExecutionCount(stats), 1);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_TRUE(res.at(i).ok()) << res.at(i).status().ToString();
    const Tensor& out = res.at(i)->outputs.at(0);
    EXPECT_EQ(out.dtype, DataType::kBytes);
    EXPECT_EQ(out.shape, (Shape{rows[i], 4}));
    auto parts = SplitBytesElements(out.data, rows[i] * 4);
    ASSERT_TRUE(parts.ok()) << parts.status().ToString();
    ASSERT_EQ(parts->size(), sent[static_cast<size_t>(i)].size());
    for (size_t e = 0; e < parts->size(); ++e) EXPECT_EQ((*parts)[e], sent[static_cast<size_t>(i)][e]) << e;
  }
}

TEST(Scheduler, ShutdownDrainsQueuedRequests) {
  Results res;
  Scheduler s(Sessions("slow"), {}, nullptr);
  for (int i = 0; i < 4; ++i) {
    InferRequest r;
    r.inputs.push_back(FloatTensor("x", {1, 1}, {static_cast<float>(i)}));
    ASSERT_TRUE(s.Enqueue(std::move(r), res.Callback(i)).ok());
  }
  s.Shutdown();
  ASSERT_EQ(res.size(), 4u) << "Shutdown returned before every queued request was answered";
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(res.at(i).ok()) << res.at(i).status().ToString();
    EXPECT_EQ(Floats(res.at(i)->outputs.at(0)), std::vector<float>{static_cast<float>(i)});
    EXPECT_EQ(res.calls(i), 1);
  }
  // Intake is closed; the callback of a refused request never runs.
  InferRequest late;
  late.inputs.push_back(FloatTensor("x", {1, 1}, {9}));
  Status st = s.Enqueue(std::move(late), res.Callback(99));
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(res.calls(99), 0);
  s.Shutdown();  // idempotent
}

TEST(Scheduler, ShutdownCutsAWaitingBatch) {
  Results res;
  Scheduler s(Sessions("add_sub"), Batching(8, 10'000'000), nullptr);
  ASSERT_TRUE(s.Enqueue(AddSubRequest(1, 1), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(AddSubRequest(2, 2), res.Callback(1)).ok());
  const auto t0 = Clock::now();
  s.Shutdown();
  EXPECT_LT(Clock::now() - t0, 5s) << "Shutdown waited for the queue delay";
  ASSERT_EQ(res.size(), 2u);
  ASSERT_TRUE(res.at(0).ok() && res.at(1).ok());
  ExpectAddSubOutputs(*res.at(0), 1, 1);
  ExpectAddSubOutputs(*res.at(1), 2, 2);
}

TEST(Scheduler, TwoInstancesOfARealModelAnswerCorrectly) {
  Results res;
  ModelStats stats(nullptr, "slow", 1);
  Scheduler s(Sessions("slow", 2), {}, &stats);
  for (int i = 0; i < 4; ++i) {
    InferRequest r;
    r.inputs.push_back(FloatTensor("x", {2, 1}, {static_cast<float>(i), -static_cast<float>(i)}));
    ASSERT_TRUE(s.Enqueue(std::move(r), res.Callback(i)).ok());
  }
  ASSERT_TRUE(res.WaitFor(4));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(res.at(i).ok()) << res.at(i).status().ToString();
    EXPECT_EQ(Floats(res.at(i)->outputs.at(0)),
              (std::vector<float>{static_cast<float>(i), -static_cast<float>(i)}));
  }
  s.Shutdown();
  EXPECT_EQ(ExecutionCount(stats), 4);
}

// =============================================================================================
// Scheduler with scripted sessions (deterministic queueing and concurrency)

TEST(Scheduler, InstancesRunConcurrently) {
  auto probe = std::make_shared<Probe>();
  probe->Close();
  Results res;
  Scheduler s(Fakes(probe, 2), {}, nullptr);
  ASSERT_TRUE(s.Enqueue(FakeRequest(1, 2, 0), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(FakeRequest(1, 2, 10), res.Callback(1)).ok());
  // Both runs are inside the session at once: the second instance did not wait for the first.
  EXPECT_TRUE(probe->WaitStarted(2)) << "the second instance never started";
  {
    std::lock_guard lock(probe->mu);
    EXPECT_EQ(probe->max_running, 2);
  }
  probe->Open();
  ASSERT_TRUE(res.WaitFor(2));
  EXPECT_EQ(Floats(res.at(1)->outputs.at(0)), (std::vector<float>{10, 11}));
}

TEST(Scheduler, OneInstanceRunsOneAtATime) {
  auto probe = std::make_shared<Probe>();
  probe->Close();
  Results res;
  Scheduler s(Fakes(probe, 1), {}, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.Enqueue(FakeRequest(1, 2, 0), res.Callback(i)).ok());
  ASSERT_TRUE(probe->WaitStarted(1));
  EXPECT_EQ(s.queued(), 2u);
  probe->Open();
  ASSERT_TRUE(res.WaitFor(3));
  std::lock_guard lock(probe->mu);
  EXPECT_EQ(probe->max_running, 1);
  EXPECT_EQ(probe->started, 3);
}

TEST(Scheduler, QueueFullIsUnavailableWithoutCallback) {
  telemetry::Registry registry;
  InferenceMetricFamilies families(registry);
  auto probe = std::make_shared<Probe>();
  probe->Close();
  Results res;
  {
    ModelStats stats(&families, "m", 1);
    SchedulerOptions o;
    o.max_queue_size = 2;
    Scheduler s(Fakes(probe), o, &stats);
    ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 0), res.Callback(0)).ok());
    ASSERT_TRUE(probe->WaitStarted(1));  // running, no longer queued
    ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 1), res.Callback(1)).ok());
    ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 2), res.Callback(2)).ok());
    Status st = s.Enqueue(FakeRequest(1, 1, 3), res.Callback(3));
    EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
    EXPECT_NE(st.message().find("queue full"), std::string::npos) << st.message();
    EXPECT_EQ(s.queued(), 2u);
    probe->Open();
    ASSERT_TRUE(res.WaitFor(3));
    s.Shutdown();
    EXPECT_EQ(res.calls(3), 0);
    EXPECT_EQ(res.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(res.at(i).ok());
    std::string text = registry.Render();
    EXPECT_NE(
        text.find(
            R"(continuum_inference_request_failure_total{model="m",version="1",reason="QUEUE_FULL"} 1)"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find(R"(continuum_inference_request_success_total{model="m",version="1"} 3)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"(continuum_inference_pending_requests{model="m",version="1"} 0)"),
              std::string::npos)
        << text;
  }
}

TEST(Scheduler, QueueByteBudgetIsUnavailableWithoutCallback) {
  SchedulerOptions o;
  o.max_queue_bytes = 3 * 16;  // three requests of 1 x 4 floats
  FakeModel m(o);
  m.probe->Close();
  ASSERT_TRUE(m.s.Enqueue(FakeRequest(1, 4, 0), m.res.Callback(0)).ok());
  ASSERT_TRUE(m.probe->WaitStarted(1));  // running: its bytes left the queue
  EXPECT_EQ(m.s.queued_bytes(), 0);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(m.s.Enqueue(FakeRequest(1, 4, 0), m.res.Callback(i)).ok());
  EXPECT_EQ(m.s.queued_bytes(), 48);
  Status st = m.s.Enqueue(FakeRequest(1, 1, 0), m.res.Callback(4));  // 4 bytes more than the budget
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("limits.max_queue_bytes"), std::string::npos) << st.message();
  EXPECT_EQ(m.s.queued(), 3u);  // far below max_queue_size: the bytes refused it
  m.probe->Open();
  ASSERT_TRUE(m.res.WaitFor(4));
  const auto give_up = Clock::now() + 10s;
  while (m.s.queued_bytes() != 0 && Clock::now() < give_up) std::this_thread::yield();
  EXPECT_EQ(m.s.queued_bytes(), 0);
  // Room again once the queue drained.
  ASSERT_TRUE(m.s.Enqueue(FakeRequest(1, 4, 0), m.res.Callback(5)).ok());
  ASSERT_TRUE(m.res.WaitFor(5));
  m.s.Shutdown();
  EXPECT_EQ(m.res.calls(4), 0);
  for (int i : {0, 1, 2, 3, 5}) EXPECT_TRUE(m.res.at(i).ok()) << i;
}

TEST(Scheduler, RequestLargerThanTheByteBudgetIsTooLarge) {
  SchedulerOptions o;
  o.max_queue_bytes = 48;
  FakeModel m(o);
  Status st = m.s.Enqueue(FakeRequest(2, 8, 0), m.res.Callback(0));  // 64 bytes, on an empty queue
  EXPECT_EQ(st.code(), StatusCode::kPayloadTooLarge) << st.ToString();
  EXPECT_NE(st.message().find("64 bytes"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("limits.max_queue_bytes"), std::string::npos) << st.message();
  EXPECT_EQ(m.s.queued(), 0u);
  ASSERT_TRUE(m.s.Enqueue(FakeRequest(3, 4, 0), m.res.Callback(1)).ok());  // 48 bytes fit
  ASSERT_TRUE(m.res.WaitFor(1));
  m.s.Shutdown();
  EXPECT_EQ(m.res.calls(0), 0);
  EXPECT_TRUE(m.res.at(1).ok());
}

TEST(Scheduler, QueueTimeoutFailsWaitingRequests) {
  SchedulerOptions o;
  o.queue_timeout_microseconds = 2000;
  FakeModel m(o);
  m.probe->Close();
  // Occupy the only instance. On a loaded machine the instance may take longer than the
  // timeout to pick a request up, so that one expires too: then try again.
  int held = 0;
  for (;; ++held) {
    ASSERT_LT(held, 100) << "the instance never took a request within the queue timeout";
    ASSERT_TRUE(m.s.Enqueue(FakeRequest(1, 1, 0), m.res.Callback(held)).ok());
    const auto give_up = Clock::now() + 10s;
    while (!m.probe->WaitStarted(1, 1ms) && m.res.size() <= static_cast<size_t>(held) &&
           Clock::now() < give_up) {
    }
    if (m.probe->WaitStarted(1, 0ms)) break;
  }
  ASSERT_TRUE(m.s.Enqueue(FakeRequest(1, 1, 1), m.res.Callback(held + 1)).ok());
  ASSERT_TRUE(m.s.Enqueue(FakeRequest(1, 1, 2), m.res.Callback(held + 2)).ok());
  // Both requests were stamped before `expired_at` less the timeout; once the clock is past it they
  // have expired, whatever the machine's load, and the instance fails them when it is free.
  const auto expired_at = Clock::now() + std::chrono::microseconds(o.queue_timeout_microseconds) + 1us;
  while (Clock::now() <= expired_at) std::this_thread::sleep_until(expired_at);
  m.probe->Open();
  ASSERT_TRUE(m.res.WaitFor(static_cast<size_t>(held) + 3));
  EXPECT_TRUE(m.res.at(held).ok());
  for (int i = 0; i < held + 3; ++i) {
    if (i == held) continue;
    EXPECT_EQ(m.res.at(i).status().code(), StatusCode::kUnavailable) << m.res.at(i).status().ToString();
    EXPECT_NE(m.res.at(i).status().message().find("queue timeout"), std::string::npos);
    EXPECT_EQ(m.res.calls(i), 1);
  }
  m.s.Shutdown();
  std::lock_guard lock(m.probe->mu);
  EXPECT_EQ(m.probe->started, 1);  // expired requests never ran
  EXPECT_EQ(FailCount(m.stats), held + 2);
}

// A fake request: `rows` x `cols` values counting up from `base`.
struct FakeRows {
  int64_t rows, cols;
  float base;
};

// Runs `requests` through a batching scheduler of `max_batch` rows that would wait 10 s for
// company: `wait_for` answers must come without that wait, Shutdown runs the rest. Every answer
// must be its own request's rows; *shapes: the inputs the engine ran.
void RunBatched(int64_t max_batch, const std::vector<FakeRows>& requests, size_t wait_for,
                std::vector<Shape>* shapes) {
  auto probe = std::make_shared<Probe>();
  Results res;
  Scheduler s(Fakes(probe), Batching(max_batch, 10'000'000), nullptr);
  for (size_t i = 0; i < requests.size(); ++i) {
    const FakeRows& r = requests[i];
    ASSERT_TRUE(s.Enqueue(FakeRequest(r.rows, r.cols, r.base), res.Callback(static_cast<int>(i))).ok());
  }
  ASSERT_TRUE(res.WaitFor(wait_for, 5s));
  s.Shutdown();
  ASSERT_EQ(res.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const FakeRows& r = requests[i];
    const auto& answer = res.at(static_cast<int>(i));
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_EQ(answer->outputs.at(0).shape, (Shape{r.rows, r.cols})) << "request " << i;
    EXPECT_EQ(Floats(answer->outputs.at(0)), Iota(static_cast<size_t>(r.rows * r.cols), r.base))
        << "request " << i;
  }
  std::lock_guard lock(probe->mu);
  *shapes = probe->shapes;
}

TEST(Scheduler, BatchesRespectMaxBatchSize) {
  std::vector<FakeRows> requests;
  for (int i = 0; i < 6; ++i) requests.push_back({1, 3, 100.0f * static_cast<float>(i)});
  // The first batch is full at 4 rows: it does not wait; Shutdown cuts the remaining 2.
  std::vector<Shape> shapes;
  RunBatched(4, requests, 4, &shapes);
  EXPECT_EQ(shapes, (std::vector<Shape>{{4, 3}, {2, 3}}));
}

TEST(Scheduler, RowsOfMultiRowRequestsCountTowardsTheLimit) {
  // 3 + 3 do not fit in 4 rows; 3 + 1 do: the 1-row request joins the first batch.
  std::vector<Shape> shapes;
  RunBatched(4, {{3, 1, 0}, {3, 1, 10}, {1, 1, 20}}, 2, &shapes);
  EXPECT_EQ(shapes, (std::vector<Shape>{{4, 1}, {3, 1}}));
}

TEST(Scheduler, OnlyCompatibleShapesShareABatch) {
  std::vector<Shape> shapes;
  RunBatched(8, {{1, 2, 0}, {1, 3, 10}, {2, 2, 20}}, 0, &shapes);
  EXPECT_EQ(shapes, (std::vector<Shape>{{3, 2}, {1, 3}}));
}

TEST(Scheduler, PreferredSizeCutsWhenNothingElseWaits) {
  auto probe = std::make_shared<Probe>();
  Results res;
  // Target 4 is never reached; 2 rows is a preferred size and nothing else waits: cut.
  Scheduler s(Fakes(probe), Batching(8, 10'000'000, {2, 4}), nullptr);
  ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 0), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 1), res.Callback(1)).ok());
  EXPECT_TRUE(res.WaitFor(2, 5s)) << "a batch at a preferred size waited for the queue delay";
}

TEST(Scheduler, UnionOfRequestedOutputsIsRun) {
  auto probe = std::make_shared<Probe>();
  Results res;
  Scheduler s(Fakes(probe), Batching(8, 10'000'000, {2}), nullptr);
  InferRequest a = FakeRequest(1, 1, 0);
  a.outputs = {{"z", false}};
  InferRequest b = FakeRequest(1, 1, 5);
  b.outputs = {{"y", false}};
  ASSERT_TRUE(s.Enqueue(std::move(a), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(std::move(b), res.Callback(1)).ok());
  ASSERT_TRUE(res.WaitFor(2, 5s));
  ASSERT_EQ(res.at(0)->outputs.size(), 1u);
  EXPECT_EQ(res.at(0)->outputs[0].name, "z");
  EXPECT_EQ(Floats(res.at(0)->outputs[0]), std::vector<float>{0});
  ASSERT_EQ(res.at(1)->outputs.size(), 1u);
  EXPECT_EQ(res.at(1)->outputs[0].name, "y");
  EXPECT_EQ(Floats(res.at(1)->outputs[0]), std::vector<float>{5});
  std::lock_guard lock(probe->mu);
  ASSERT_EQ(probe->requested.size(), 1u);
  EXPECT_EQ(probe->requested[0], (std::vector<std::string>{"z", "y"}));
}

TEST(Scheduler, BackendErrorReachesEveryRequestOfTheBatchOnce) {
  auto probe = std::make_shared<Probe>();
  probe->fail = Internal("boom");
  Results res;
  ModelStats stats(nullptr, "m", 1);
  Scheduler s(Fakes(probe), Batching(8, 10'000'000, {3}), &stats);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 0), res.Callback(i)).ok());
  ASSERT_TRUE(res.WaitFor(3, 5s));
  s.Shutdown();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(res.at(i).status().code(), StatusCode::kInternal);
    EXPECT_EQ(res.at(i).status().message(), "boom");
    EXPECT_EQ(res.calls(i), 1);
  }
  EXPECT_EQ(FailCount(stats), 3);
  EXPECT_EQ(ExecutionCount(stats), 0);
}

TEST(Scheduler, OutputsWithoutTheBatchDimensionFailTheBatch) {
  auto probe = std::make_shared<Probe>();
  probe->drop_batch_dim = true;
  Results res;
  Scheduler s(Fakes(probe), Batching(8, 10'000'000, {2}), nullptr);
  ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 0), res.Callback(0)).ok());
  ASSERT_TRUE(s.Enqueue(FakeRequest(1, 1, 0), res.Callback(1)).ok());
  ASSERT_TRUE(res.WaitFor(2, 5s));
  s.Shutdown();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(res.at(i).status().code(), StatusCode::kInternal);
    EXPECT_NE(res.at(i).status().message().find("cannot be batched"), std::string::npos)
        << res.at(i).status().message();
    EXPECT_EQ(res.calls(i), 1);
  }
}

// =============================================================================================
// ModelStats

TEST(ModelStats, CountsAndBatchStats) {
  ModelStats stats(nullptr, "m", 3);
  stats.RecordExecution(4, 10, 20, 30);
  stats.RecordExecution(4, 1, 2, 3);
  stats.RecordExecution(1, 1, 1, 1);
  for (int i = 0; i < 9; ++i) stats.RecordSuccess(100, 10);
  stats.RecordFailure(FailureReason::kTimeout, 5);
  std::string j = stats.ToJson();
  EXPECT_NE(j.find(R"("name":"m","version":"3")"), std::string::npos) << j;
  EXPECT_EQ(JsonInt(j, "inference_count"), 9);
  EXPECT_EQ(JsonInt(j, "execution_count"), 3);
  EXPECT_NE(j.find(R"("success":{"count":9,"ns":900})"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("fail":{"count":1,"ns":5})"), std::string::npos) << j;
  EXPECT_NE(
      j.find(R"({"batch_size":4,"compute_input":{"count":2,"ns":11},"compute_infer":{"count":2,"ns":22})"),
      std::string::npos)
      << j;
  EXPECT_NE(j.find(R"({"batch_size":1,)"), std::string::npos) << j;
  EXPECT_GT(JsonInt(j, "last_inference"), 0);
}

TEST(ModelStats, AReloadedVersionKeepsItsSeries) {
  // A config change reloads a version: the new ModelStats is created before the old one goes.
  telemetry::Registry registry;
  InferenceMetricFamilies families(registry);
  auto old_stats = std::make_unique<ModelStats>(&families, "m", 1);
  old_stats->RecordExecution(2, 1, 1, 1);
  ModelStats fresh(&families, "m", 1);
  old_stats.reset();
  fresh.RecordExecution(2, 1, 1, 1);
  fresh.RecordSuccess(1, 1);
  std::string text = registry.Render();
  EXPECT_NE(text.find(R"(continuum_inference_exec_count_total{model="m",version="1"} 2)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(continuum_inference_request_success_total{model="m",version="1"} 1)"),
            std::string::npos)
      << text;

  // When the last user of the labels goes, the series leave the exposition.
  {
    ModelStats other(&families, "gone", 7);
    other.RecordExecution(1, 1, 1, 1);
    EXPECT_NE(registry.Render().find(R"(model="gone")"), std::string::npos);
  }
  EXPECT_EQ(registry.Render().find(R"(model="gone")"), std::string::npos) << registry.Render();
}

}  // namespace
}  // namespace continuum
