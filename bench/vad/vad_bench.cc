// Real-time factor of voice-activity detection (audio seconds per wall second), three ways:
//   direct     Silero v5 window by window straight through runtime::Session (no scheduler)
//   scheduler  the same windows through the model repository's scheduler (RepositoryRunner), as
//              the task sends them
//   task       the whole task: WAV decode, resample to 16 kHz, windows through the scheduler,
//              segmentation and JSON
// and the scheduler's cost per window (scheduler - direct). ORT gets one intra-op thread; run it
// under `taskset -c N` (bench/vad/run.sh does) to hold everything to one core.
//   continuum_vad_bench --model silero_vad_v5.onnx --wav FILE [--repeat N]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "repository/repository.h"
#include "runtime/runtime.h"
#include "tasks/audio/resample.h"
#include "tasks/audio/wav.h"
#include "tasks/runner.h"
#include "tasks/vad/vad_task.h"

using namespace continuum;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "vad_bench: %s\n", what.c_str());
  std::exit(1);
}

// Silero v5 window by window on a session: what the task does, minus the scheduler.
double DirectProbabilities(runtime::Session& session, const std::vector<float>& audio,
                           std::vector<float>* probs) {
  constexpr int64_t kWindow = 512, kContext = 64;
  const int64_t n = static_cast<int64_t>(audio.size());
  Tensor input{
      "input", DataType::kFp32, {1, kWindow + kContext}, std::string((kWindow + kContext) * 4, '\0')};
  Tensor state{"state", DataType::kFp32, {2, 1, 128}, std::string(256 * 4, '\0')};
  Tensor sr{"sr", DataType::kInt64, {}, std::string(8, '\0')};
  const int64_t rate = 16000;
  std::memcpy(sr.data.data(), &rate, 8);
  const Tensor* inputs[] = {&input, &state, &sr};
  probs->clear();
  const auto t0 = Clock::now();
  for (int64_t begin = -kContext; begin + kContext < n; begin += kWindow) {
    std::memset(input.data.data(), 0, input.data.size());
    const int64_t from = std::max<int64_t>(begin, 0), to = std::min<int64_t>(begin + kContext + kWindow, n);
    std::memcpy(input.data.data() + (from - begin) * 4, audio.data() + from,
                static_cast<size_t>(to - from) * 4);
    auto out = session.Run(inputs, {});
    if (!out.ok()) Die(out.status().ToString());
    float p;
    std::memcpy(&p, (*out)[0].data.data(), 4);
    probs->push_back(p);
    state.data = std::move((*out)[1].data);
  }
  return Seconds(t0, Clock::now());
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, wav_path;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--model")
      model = argv[i + 1];
    else if (a == "--wav")
      wav_path = argv[i + 1];
    else if (a == "--repeat")
      repeat = std::max(1, std::atoi(argv[i + 1]));
    else
      Die("unknown option " + a);
  }
  if (model.empty() || wav_path.empty())
    Die("usage: continuum_vad_bench --model ONNX --wav FILE [--repeat N]");
  std::ifstream in(wav_path, std::ios::binary);
  std::string wav((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto decoded = tasks::audio::DecodeWav(wav);
  if (!decoded.ok()) Die(decoded.status().ToString());
  const double audio_s = decoded->info.duration_seconds();
  const std::vector<float> pcm16k = tasks::audio::Resample(decoded->samples, decoded->sample_rate, 16000);
  const int64_t windows = (static_cast<int64_t>(pcm16k.size()) + 511) / 512;

  auto engine = runtime::Engine::Create({.intra_op_threads = 1});
  if (!engine.ok()) Die(engine.status().ToString());
  // A one-model repository in a temporary folder, configured as tools/catalog.d/vad.sh does.
  const fs::path root = fs::temp_directory_path() / ("vad_bench_" + std::to_string(::getpid()));
  fs::create_directories(root / "silero_vad" / "1");
  fs::create_symlink(fs::absolute(model), root / "silero_vad" / "1" / "model.onnx");
  std::ofstream(root / "silero_vad" / "config.json")
      << R"({"max_batch_size":0,"instance_count":1,"warmup":false})";
  RepositoryOptions ro;
  ro.root = root;
  ModelRepository repo(ro, engine->get(), nullptr);
  if (auto st = repo.Start(); !st.ok() || !repo.Ready()) Die("repository: " + st.ToString());
  auto session = (*engine)->Load(model, {});
  if (!session.ok()) Die(session.status().ToString());

  tasks::CatalogEntry entry;
  entry.name = "@cf/snakers4/silero-vad";
  entry.task = "voice-activity-detection";
  entry.models["vad"] = "silero_vad";
  entry.settings_json = "{}";
  auto settings = tasks::vad::ParseVadSettings(entry);
  auto task = tasks::vad::CreateVadTask(entry, {});
  if (!settings.ok() || !task.ok()) Die("task");
  tasks::RepositoryRunner runner(&repo);
  tasks::TaskRequest request;
  request.binary = wav;

  double best_direct = 1e9, best_sched = 1e9, best_task = 1e9, best_prep = 1e9;
  std::vector<float> direct_probs, sched_probs;
  for (int r = 0; r < repeat; ++r) {
    best_direct = std::min(best_direct, DirectProbabilities(**session, pcm16k, &direct_probs));
    auto t0 = Clock::now();
    auto p = tasks::vad::SpeechProbabilities(pcm16k, *settings, runner);
    best_sched = std::min(best_sched, Seconds(t0, Clock::now()));
    if (!p.ok()) Die(p.status().ToString());
    sched_probs = std::move(p).value();
    t0 = Clock::now();
    auto d = tasks::audio::DecodeWav(wav);
    auto y = tasks::audio::Resample(d->samples, d->sample_rate, 16000);
    best_prep = std::min(best_prep, Seconds(t0, Clock::now()));
    t0 = Clock::now();
    auto result = (*task)->Run(request, runner);
    best_task = std::min(best_task, Seconds(t0, Clock::now()));
    if (!result.ok()) Die(result.status().ToString());
  }
  double max_diff = 0;
  for (size_t i = 0; i < std::min(direct_probs.size(), sched_probs.size()); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(direct_probs[i] - sched_probs[i])));
  }
  repo.Shutdown();
  fs::remove_all(root);

  std::printf("audio: %.1f s (%d Hz, %d ch) -> %lld windows of 32 ms; best of %d runs\n", audio_s,
              decoded->sample_rate, decoded->info.channels, static_cast<long long>(windows), repeat);
  std::printf("%-34s %9s %12s %10s\n", "path", "wall s", "us/window", "RTF");
  auto row = [&](const char* name, double s) {
    std::printf("%-34s %9.3f %12.1f %9.0fx\n", name, s, s * 1e6 / static_cast<double>(windows), audio_s / s);
  };
  row("direct ORT session (model only)", best_direct);
  row("through the scheduler (model only)", best_sched);
  row("task: decode+resample+VAD+segments", best_task);
  std::printf("decode + resample alone: %.1f ms (%.0fx)\n", best_prep * 1e3, audio_s / best_prep);
  std::printf("scheduler overhead per window: %.1f us (%.0f%% of the direct cost)\n",
              (best_sched - best_direct) * 1e6 / static_cast<double>(windows),
              100 * (best_sched - best_direct) / best_direct);
  std::printf("max |p_direct - p_scheduler| = %.2g (must be 0: same windows, same state)\n", max_diff);
  return max_diff == 0 ? 0 : 1;
}
