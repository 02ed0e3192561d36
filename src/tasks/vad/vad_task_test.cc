#include "tasks/vad/vad_task.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/audio/wav.h"
#include "tasks/registry.h"
#include "tasks/runner.h"

namespace continuum::tasks::vad {
namespace {

namespace fs = std::filesystem;

CatalogEntry Entry(std::string settings = "{}", std::string model = "silero_vad") {
  CatalogEntry e;
  e.name = "@cf/snakers4/silero-vad";
  e.task = "voice-activity-detection";
  if (!model.empty()) e.models["vad"] = model;
  e.settings_json = std::move(settings);
  return e;
}

std::unique_ptr<Task> MakeTask(const CatalogEntry& e = Entry(), TaskLimits limits = {}) {
  auto t = CreateVadTask(e, limits);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

// Answers like Silero v5 with scripted probabilities, checking what it is sent: the input shape,
// the 64-sample context (the previous window's tail), the state carried from the last answer.
class FakeRunner final : public ModelRunner {
 public:
  explicit FakeRunner(std::vector<float> probs) : probs_(std::move(probs)) {}

  std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model, std::vector<Tensor> inputs,
                                                      std::vector<std::string> outputs) override {
    std::promise<StatusOr<std::vector<Tensor>>> p;
    p.set_value(Answer(model, inputs));
    return p.get_future();
  }

  int calls = 0;
  std::vector<float> last_input;  // the most recent `input` tensor
  Status fail_with;
  std::string error;  // the first inconsistency seen

 private:
  StatusOr<std::vector<Tensor>> Answer(const std::string& model, const std::vector<Tensor>& in) {
    if (!fail_with.ok()) return fail_with;
    auto check = [&](bool ok, const std::string& what) {
      if (!ok && error.empty()) error = "call " + std::to_string(calls) + ": " + what;
    };
    check(model == "silero_vad", "model " + model);
    check(in.size() == 3, "three inputs");
    if (in.size() != 3) return Internal("bad inputs");
    const Tensor &x = in[0], &state = in[1], &sr = in[2];
    check(x.name == "input" && x.shape == Shape{1, 576} && x.data.size() == 576 * 4, "input [1, 576]");
    check(state.name == "state" && state.shape == Shape{2, 1, 128} && state.data.size() == 256 * 4, "state");
    check(sr.name == "sr" && sr.dtype == DataType::kInt64 && sr.shape.empty() && sr.data.size() == 8,
          "sr scalar");
    int64_t rate = 0;
    std::memcpy(&rate, sr.data.data(), 8);
    check(rate == 16000, "sr 16000");
    std::vector<float> cur(576), st(256);
    std::memcpy(cur.data(), x.data.data(), 576 * 4);
    std::memcpy(st.data(), state.data.data(), 256 * 4);
    for (float v : st) check(v == static_cast<float>(calls), "state carried from the previous call");
    for (int i = 0; i < 64; ++i) {
      const float want = last_input.empty() ? 0.0f : last_input[576 - 64 + i];
      check(cur[i] == want, "context = tail of the previous window");
    }
    last_input = cur;
    const float prob = calls < static_cast<int>(probs_.size()) ? probs_[calls] : 0.0f;
    ++calls;
    std::vector<Tensor> out(2);
    out[0] = {"output", DataType::kFp32, {1, 1}, std::string(4, '\0')};
    std::memcpy(out[0].data.data(), &prob, 4);
    std::vector<float> next(256, static_cast<float>(calls));
    out[1] = {
        "stateN", DataType::kFp32, {2, 1, 128}, std::string(reinterpret_cast<char*>(next.data()), 256 * 4)};
    return out;
  }
  std::vector<float> probs_;
};

std::vector<float> Ramp(size_t n) {
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>((i % 1000) / 1000.0 - 0.5);
  return x;
}

TaskRequest WavRequest(const std::vector<float>& samples, int rate, int channels = 1) {
  TaskRequest r;
  r.binary = audio::EncodeWav(samples, channels, rate, /*float32=*/true);
  return r;
}

struct Seg {
  double start, end;
};

std::vector<Seg> ParseSegments(const std::string& json, double* duration = nullptr, int64_t* rate = nullptr) {
  simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(json);
  std::vector<Seg> out;
  for (auto s : root["segments"].get_array()) out.push_back({double(s["start"]), double(s["end"])});
  if (duration) *duration = double(root["duration"]);
  if (rate) *rate = int64_t(root["sample_rate"]);
  return out;
}

TEST(VadTask, WindowsStateAndContext) {
  // 3 s at 16 kHz = 93.75 windows: 94 calls. Speech in windows 31..62 (0.992 s .. 2.016 s).
  std::vector<float> probs(94, 0.05f);
  for (int i = 31; i < 63; ++i) probs[i] = 0.97f;
  FakeRunner runner(probs);
  auto task = MakeTask();
  auto r = task->Run(WavRequest(Ramp(48000), 16000), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(runner.calls, 94);
  EXPECT_EQ(runner.error, "");
  double duration = 0;
  int64_t rate = 0;
  auto segs = ParseSegments(r->result_json, &duration, &rate);
  EXPECT_DOUBLE_EQ(duration, 3.0);
  EXPECT_EQ(rate, 16000);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_DOUBLE_EQ(segs[0].start, 0.962);  // (31·512 - 480) / 16000
  EXPECT_DOUBLE_EQ(segs[0].end, 2.046);    // (63·512 + 480) / 16000
  // The last window is zero-padded past the audio.
  EXPECT_EQ(runner.last_input[64 + 48000 - 93 * 512], 0.0f);
  EXPECT_NE(runner.last_input[64 + 48000 - 93 * 512 - 1], 0.0f);
}

TEST(VadTask, ResamplesAndDownmixes) {
  // 1 s of 8 kHz stereo: 16000 samples at the model rate, 32 windows.
  FakeRunner runner({});
  auto r = MakeTask()->Run(WavRequest(std::vector<float>(16000, 0.25f), 8000, 2), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(runner.calls, 32);
  EXPECT_EQ(runner.error, "");
  double duration = 0;
  EXPECT_TRUE(ParseSegments(r->result_json, &duration).empty());
  EXPECT_DOUBLE_EQ(duration, 1.0);
  EXPECT_NEAR(runner.last_input[80], 0.25f, 1e-3);  // window 31 holds samples 15872..15999
  EXPECT_EQ(runner.last_input[64 + 128], 0.0f);
}

TEST(VadTask, EmptyAudio) {
  FakeRunner runner({});
  auto r = MakeTask()->Run(WavRequest({}, 16000), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(runner.calls, 0);
  EXPECT_EQ(r->result_json, R"({"segments":[],"duration":0,"sample_rate":16000})");
}

TEST(VadTask, RequestOptionsOverrideSettings) {
  std::vector<float> probs(40, 0.0f);
  for (int i = 10; i < 20; ++i) probs[i] = 0.8f;
  auto task = MakeTask(Entry(R"({"threshold":0.9})"));
  {
    FakeRunner runner(probs);
    auto r = task->Run(WavRequest(Ramp(40 * 512), 16000), runner);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(ParseSegments(r->result_json).empty());
  }
  {
    FakeRunner runner(probs);
    TaskRequest req = WavRequest(Ramp(40 * 512), 16000);
    req.numbers["threshold"] = 0.7;
    req.numbers["speech_pad_ms"] = 0;
    req.flags["probabilities"] = true;
    auto r = task->Run(req, runner);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto segs = ParseSegments(r->result_json);
    ASSERT_EQ(segs.size(), 1u);
    EXPECT_DOUBLE_EQ(segs[0].start, 0.32);
    EXPECT_DOUBLE_EQ(segs[0].end, 0.64);
    EXPECT_NE(r->result_json.find(R"("window_seconds":0.032,"probabilities":[0,)"), std::string::npos)
        << r->result_json;
  }
  {
    FakeRunner runner(probs);
    TaskRequest req = WavRequest(Ramp(40 * 512), 16000);
    req.numbers["threshold"] = 0.7;
    req.numbers["min_speech_duration_ms"] = 400;  // Silero's name; 320 ms of speech is too short
    auto r = task->Run(req, runner);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(ParseSegments(r->result_json).empty());
  }
}

TEST(VadTask, BadRequests) {
  auto task = MakeTask();
  FakeRunner runner({});
  EXPECT_EQ(task->Run(TaskRequest{}, runner).status().code(), StatusCode::kInvalidArgument);
  TaskRequest junk;
  junk.binary = "ID3\x04 this is an mp3";
  auto r = task->Run(junk, runner);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("audio: ", 0), 0u) << r.status().message();
  for (auto [key, value] : {std::pair<const char*, double>{"threshold", 1.5},
                            {"threshold", NAN},
                            {"neg_threshold", 0.9},
                            {"min_silence_ms", -1},
                            {"speech_pad_ms", 1e9},
                            {"max_speech_s", 0}}) {
    TaskRequest req = WavRequest(Ramp(1000), 16000);
    req.numbers[key] = value;
    auto bad = task->Run(req, runner);
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_NE(bad.status().message().find(key), std::string::npos) << bad.status().message();
  }
  EXPECT_EQ(runner.calls, 0);
}

TEST(VadTask, AudioLongerThanTheLimit) {
  TaskLimits limits;
  limits.max_audio_seconds = 1;
  FakeRunner runner({});
  auto r = MakeTask(Entry(), limits)->Run(WavRequest(Ramp(20000), 16000), runner);
  EXPECT_EQ(r.status().code(), StatusCode::kPayloadTooLarge);
  EXPECT_EQ(runner.calls, 0);
}

TEST(VadTask, RunnerErrorsPropagate) {
  FakeRunner runner({});
  runner.fail_with = Unavailable("queue full");
  auto r = MakeTask()->Run(WavRequest(Ramp(1000), 16000), runner);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("queue full"), std::string::npos);
}

TEST(VadSettings, ParseAndValidate) {
  auto s = ParseVadSettings(Entry(R"({"threshold":0.6,"min_speech_ms":100,"speech_pad_ms":0})"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->model, "silero_vad");
  EXPECT_DOUBLE_EQ(s->segments.threshold, 0.6);
  EXPECT_DOUBLE_EQ(s->segments.neg_threshold, 0.45);
  EXPECT_EQ(s->segments.window, 512);
  EXPECT_EQ(s->context_samples, 64);
  s = ParseVadSettings(Entry(R"({"sample_rate":8000})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->segments.window, 256);
  EXPECT_EQ(s->context_samples, 32);
  for (const char* bad :
       {R"({"threshold":"high"})", R"({"colour":1})", R"({"sample_rate":44100})",
        R"({"window_samples":100.5})", R"({"context_samples":1000})", R"({"neg_threshold":0.7})"}) {
    EXPECT_FALSE(ParseVadSettings(Entry(bad)).ok()) << bad;
  }
  auto missing = ParseVadSettings(Entry("{}", ""));
  EXPECT_NE(missing.status().message().find("models.vad"), std::string::npos);
}

TEST(VadSettings, NegThresholdFollowsTheThresholdInEffect) {
  auto s = ParseVadSettings(Entry(R"({"neg_threshold":0.2})"));
  ASSERT_TRUE(s.ok());
  TaskRequest req;
  auto p = ApplyRequestOptions(*s, req);
  ASSERT_TRUE(p.ok());
  EXPECT_DOUBLE_EQ(p->neg_threshold, 0.2);
  req.numbers["threshold"] = 0.8;
  p = ApplyRequestOptions(*s, req);
  EXPECT_DOUBLE_EQ(p->neg_threshold, 0.8 - 0.15);
  req.numbers["threshold"] = 0.005;
  p = ApplyRequestOptions(*s, req);
  EXPECT_DOUBLE_EQ(p->neg_threshold, 0.005);
  req.numbers["neg_threshold"] = 0.001;
  p = ApplyRequestOptions(*s, req);
  EXPECT_DOUBLE_EQ(p->neg_threshold, 0.001);
}

TEST(VadRegistry, BuiltIn) {
  const auto kinds = TaskRegistry::BuiltIn().Kinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "voice-activity-detection"), kinds.end());
  auto t = TaskRegistry::BuiltIn().Create(Entry(), {});
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  simdjson::dom::parser parser;
  EXPECT_FALSE(parser.parse((*t)->InputSchema()).error());
  EXPECT_FALSE(parser.parse((*t)->OutputSchema()).error());
  // The schema's defaults are the entry's settings.
  auto custom = CreateVadTask(Entry(R"({"threshold":0.6,"neg_threshold":0.3,"max_speech_s":30})"), {});
  ASSERT_TRUE(custom.ok());
  const std::string schema = (*custom)->InputSchema();
  EXPECT_FALSE(parser.parse(schema).error()) << schema;
  EXPECT_NE(schema.find(R"("default":0.6,)"), std::string::npos) << schema;
  EXPECT_NE(schema.find("default 0.3"), std::string::npos) << schema;
  EXPECT_NE(schema.find("default: 30 s"), std::string::npos) << schema;
}

// ---- The real model, through a repository and its scheduler ----

class RealModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(CONTINUUM_SILERO_VAD)) return;
    root_ = new fs::path(fs::temp_directory_path() / ("vad_test_" + std::to_string(::getpid())));
    fs::create_directories(*root_ / "silero_vad" / "1");
    fs::create_symlink(CONTINUUM_SILERO_VAD, *root_ / "silero_vad" / "1" / "model.onnx");
    std::ofstream(*root_ / "silero_vad" / "config.json")
        << R"({"schema_version":1,"max_batch_size":0,"instance_count":1,"warmup":false})";
    engine_ = runtime::Engine::Create({.intra_op_threads = 1}).value().release();
    RepositoryOptions o;
    o.root = *root_;
    repo_ = new ModelRepository(o, engine_, nullptr);
    ASSERT_TRUE(repo_->Start().ok());
  }
  static void TearDownTestSuite() {
    delete repo_;
    delete engine_;
    if (root_) fs::remove_all(*root_);
    delete root_;
  }
  void SetUp() override {
    if (!repo_) GTEST_SKIP() << "no Silero model at " CONTINUUM_SILERO_VAD " (tools/fetch_models.sh)";
  }
  static inline fs::path* root_ = nullptr;
  static inline runtime::Engine* engine_ = nullptr;
  static inline ModelRepository* repo_ = nullptr;
};

TEST_F(RealModel, SilenceAndNoiseAreNotSpeech) {
  RepositoryRunner runner(repo_);
  auto task = MakeTask();
  std::vector<float> x(3 * 16000, 0.0f);
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0, 0.01f);
  for (size_t i = 16000; i < x.size(); ++i) x[i] = noise(rng);
  TaskRequest req = WavRequest(x, 16000);
  req.flags["probabilities"] = true;
  auto r = task->Run(req, runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(ParseSegments(r->result_json).empty()) << r->result_json;
  // Every window went through the scheduler: the model's statistics count them.
  auto mv = repo_->Get("silero_vad");
  ASSERT_TRUE(mv.ok());
  EXPECT_NE((*mv)->stats().ToJson().find("\"inference_count\":94"), std::string::npos)
      << (*mv)->stats().ToJson();
}

TEST_F(RealModel, EspeakSpeechIsFound) {
  // Speech from espeak-ng (installed by tools/setup.sh) between 1 s and 1.5 s of silence.
  const fs::path wav = *root_ / "speech.wav";
  const std::string cmd =
      "espeak-ng -w " + wav.string() + " 'Voice activity detection finds speech' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "espeak-ng is not available";
  std::ifstream in(wav, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto speech = audio::DecodeWav(bytes);
  ASSERT_TRUE(speech.ok()) << speech.status().ToString();
  const int rate = speech->sample_rate;
  std::vector<float> x(rate, 0.0f);
  x.insert(x.end(), speech->samples.begin(), speech->samples.end());
  x.insert(x.end(), rate * 3 / 2, 0.0f);
  RepositoryRunner runner(repo_);
  auto r = MakeTask()->Run(WavRequest(x, rate), runner);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto segs = ParseSegments(r->result_json);
  ASSERT_GE(segs.size(), 1u) << r->result_json;
  const double speech_end = 1.0 + static_cast<double>(speech->samples.size()) / rate;
  EXPECT_GT(segs.front().start, 0.8) << r->result_json;
  EXPECT_LT(segs.front().start, 1.3) << r->result_json;
  EXPECT_LT(segs.back().end, speech_end + 0.2) << r->result_json;
  EXPECT_GT(segs.back().end, speech_end - 0.6) << r->result_json;
}

TEST_F(RealModel, ConcurrentRequestsKeepTheirOwnState) {
  // Two requests interleave window by window in the model's queue; each must get the answer it
  // gets alone (the state travels with the request, not with the model).
  RepositoryRunner runner(repo_);
  auto task = MakeTask();
  std::vector<float> x(2 * 16000);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  for (auto& v : x) v = u(rng) * static_cast<float>(std::sin(v * 40.0));
  TaskRequest req = WavRequest(x, 16000);
  req.flags["probabilities"] = true;
  auto alone = task->Run(req, runner);
  ASSERT_TRUE(alone.ok());
  TaskRequest silent = WavRequest(std::vector<float>(3 * 16000, 0.0f), 16000);
  auto other = std::async(std::launch::async, [&] { return task->Run(silent, runner); });
  auto together = task->Run(req, runner);
  ASSERT_TRUE(other.get().ok());
  ASSERT_TRUE(together.ok());
  EXPECT_EQ(alone->result_json, together->result_json);
}

}  // namespace
}  // namespace continuum::tasks::vad
