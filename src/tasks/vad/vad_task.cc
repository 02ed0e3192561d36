#include "tasks/vad/vad_task.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "tasks/audio/resample.h"
#include "tasks/audio/wav.h"
#include "tasks/builtin.h"

namespace continuum::tasks::vad {
namespace {

constexpr int64_t kStateFloats = 2 * 1 * 128;  // Silero v5 `state` [2, 1, 128]
constexpr double kMaxDurationMs = 60'000;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Status CheckParams(const SegmentParams& p, std::string_view where) {
  auto bad = [&](std::string_view field, std::string why) {
    return InvalidArgument(std::string(where) + std::string(field) + ": " + why);
  };
  if (!(p.threshold >= 0 && p.threshold <= 1)) return bad("threshold", "must be within 0..1");
  if (!(p.neg_threshold >= 0 && p.neg_threshold <= p.threshold)) {
    return bad("neg_threshold", "must be within 0..threshold (" + Num(p.threshold) + ")");
  }
  const std::pair<const char*, double> durations[] = {{"min_speech_ms", p.min_speech_ms},
                                                      {"min_silence_ms", p.min_silence_ms},
                                                      {"speech_pad_ms", p.speech_pad_ms}};
  for (const auto& [name, v] : durations) {
    if (!(v >= 0 && v <= kMaxDurationMs)) return bad(name, "must be within 0.." + Num(kMaxDurationMs));
  }
  if (!(p.max_speech_s > 0)) return bad("max_speech_s", "must be positive");
  return Status::Ok();
}

// The reference's default, never above the threshold itself.
double DefaultNegThreshold(double threshold) { return std::min(threshold, std::max(threshold - 0.15, 0.01)); }

class VadTask final : public Task {
 public:
  VadTask(VadSettings settings, TaskLimits limits) : settings_(std::move(settings)), limits_(limits) {}

  StatusOr<TaskResult> Run(const TaskRequest& request, ModelRunner& runner) const override {
    if (request.binary.empty()) return InvalidArgument("audio: required (a WAV file)");
    ASSIGN_OR_RETURN(SegmentParams params, ApplyRequestOptions(settings_, request));
    audio::WavLimits wav_limits;
    wav_limits.max_seconds = limits_.max_audio_seconds;
    auto decoded = audio::DecodeWav(request.binary, wav_limits);
    if (!decoded.ok()) return decoded.status().WithContext("audio");
    std::vector<float> resampled;
    std::span<const float> pcm = decoded->samples;
    if (decoded->sample_rate != params.sample_rate) {
      audio::Resampler::Get(decoded->sample_rate, params.sample_rate)->Process(pcm, &resampled);
      pcm = resampled;
      std::vector<float>().swap(decoded->samples);  // the native-rate copy is no longer needed
    }
    ASSIGN_OR_RETURN(std::vector<float> probs, SpeechProbabilities(pcm, settings_, runner));
    const auto segments = ProbabilitiesToSegments(probs, static_cast<int64_t>(pcm.size()), params);

    auto seconds = [&](int64_t samples) {
      return std::round(static_cast<double>(samples) * 1000.0 / params.sample_rate) / 1000.0;
    };
    TaskResult result;
    JsonWriter w(&result.result_json);
    w.BeginObject().Key("segments").BeginArray();
    for (const auto& s : segments) {
      w.BeginObject().Key("start").Double(seconds(s.start)).Key("end").Double(seconds(s.end)).EndObject();
    }
    w.EndArray();
    w.Key("duration").Double(std::round(decoded->info.duration_seconds() * 1000.0) / 1000.0);
    w.Key("sample_rate").Int(params.sample_rate);
    auto flag = request.flags.find("probabilities");
    if (flag != request.flags.end() && flag->second) {
      w.Key("window_seconds").Double(static_cast<double>(params.window) / params.sample_rate);
      w.Key("probabilities").BeginArray();
      for (float p : probs) w.Double(std::round(p * 1e4) / 1e4);
      w.EndArray();
    }
    w.EndObject();
    return result;
  }

  std::string InputSchema() const override {
    const SegmentParams& d = settings_.segments;
    return std::string(R"({"type":"object","properties":{)") +
           R"("audio":{"description":"A WAV file: PCM 8/16/24/32-bit or IEEE float 32/64 (also WAVE_FORMAT_EXTENSIBLE, A-law, mu-law), any sample rate from 1 kHz to 384 kHz, any number of channels (averaged), at most )" +
           Num(limits_.max_audio_seconds) +
           R"( s long. Sent as the raw request body or as an array of byte values.","oneOf":[{"type":"string","format":"binary"},{"type":"array","items":{"type":"integer","minimum":0,"maximum":255}}]},)" +
           R"("threshold":{"type":"number","minimum":0,"maximum":1,"default":)" + Num(d.threshold) +
           R"(,"description":"Speech probability at which a segment starts."},)" +
           R"("neg_threshold":{"type":"number","minimum":0,"maximum":1,"description":"Probability below which speech counts as ended; )" +
           (settings_.neg_threshold_set
                ? "default " + Num(d.neg_threshold) + " (threshold - 0.15 when the threshold is given)"
                : std::string("default threshold - 0.15")) +
           R"(."},)" + R"("min_speech_ms":{"type":"number","minimum":0,"maximum":60000,"default":)" +
           Num(d.min_speech_ms) + R"(,"description":"Shorter segments are dropped."},)" +
           R"("min_silence_ms":{"type":"number","minimum":0,"maximum":60000,"default":)" +
           Num(d.min_silence_ms) + R"(,"description":"Silence needed to end a segment."},)" +
           R"("speech_pad_ms":{"type":"number","minimum":0,"maximum":60000,"default":)" +
           Num(d.speech_pad_ms) + R"(,"description":"Padding added on each side of a segment."},)" +
           R"("max_speech_s":{"type":"number","exclusiveMinimum":0,"description":"Longer segments are split at the last pause, or cut (default: )" +
           (std::isfinite(d.max_speech_s) ? Num(d.max_speech_s) + " s" : std::string("unlimited")) +
           R"()."},)" +
           R"("probabilities":{"type":"boolean","default":false,"description":"Also return the speech probability of every window."}},)" +
           R"("required":["audio"]})";
  }

  std::string OutputSchema() const override {
    return R"({"type":"object","properties":{)"
           R"("segments":{"type":"array","description":"Speech segments in order, in seconds from the start of the audio.","items":{"type":"object","properties":{"start":{"type":"number"},"end":{"type":"number"}},"required":["start","end"]}},)"
           R"("duration":{"type":"number","description":"Length of the audio in seconds."},)"
           R"("sample_rate":{"type":"integer","description":"The rate the model analysed the audio at (Hz)."},)"
           R"("window_seconds":{"type":"number","description":"Length of one analysis window (with probabilities)."},)"
           R"("probabilities":{"type":"array","items":{"type":"number"},"description":"Speech probability per window (when asked for)."}},)"
           R"("required":["segments","duration","sample_rate"]})";
  }

 private:
  const VadSettings settings_;
  const TaskLimits limits_;
};

}  // namespace

StatusOr<VadSettings> ParseVadSettings(const CatalogEntry& entry) {
  constexpr double kAnyNumber = std::numeric_limits<double>::max();  // ranges are checked below
  VadSettings s;
  auto m = entry.models.find("vad");
  if (m == entry.models.end() || m->second.empty()) {
    return InvalidArgument("models.vad: required (the repository model of the Silero VAD v5 graph)");
  }
  s.model = m->second;
  config::Reader r("settings.");
  config::Object o;
  RETURN_IF_ERROR(r.Parse(entry.SettingsJson(), &o));
  bool window_set = false, context_set = false;
  double window = 512, context = 64, rate = 16000;
  for (auto [key, value] : o) {
    ASSIGN_OR_RETURN(double v, r.Double(value, key, -kAnyNumber, kAnyNumber));
    SegmentParams& p = s.segments;
    if (key == "threshold")
      p.threshold = v;
    else if (key == "neg_threshold")
      p.neg_threshold = v, s.neg_threshold_set = true;
    else if (key == "min_speech_ms")
      p.min_speech_ms = v;
    else if (key == "min_silence_ms")
      p.min_silence_ms = v;
    else if (key == "speech_pad_ms")
      p.speech_pad_ms = v;
    else if (key == "max_speech_s")
      p.max_speech_s = v;
    else if (key == "sample_rate")
      rate = v;
    else if (key == "window_samples")
      window = v, window_set = true;
    else if (key == "context_samples")
      context = v, context_set = true;
    else
      return r.Err(key, "unknown setting");
  }
  if (rate != 16000 && rate != 8000) return r.Err("sample_rate", "Silero VAD runs at 16000 or 8000 Hz");
  if (rate == 8000 && !window_set) window = 256;
  if (rate == 8000 && !context_set) context = 32;
  if (window != std::floor(window) || window < 32 || window > 8192) {
    return r.Err("window_samples", "must be an integer within 32..8192");
  }
  if (context != std::floor(context) || context < 0 || context > window) {
    return r.Err("context_samples", "must be an integer within 0..window_samples");
  }
  s.segments.sample_rate = static_cast<int>(rate);
  s.segments.window = static_cast<int>(window);
  s.context_samples = static_cast<int>(context);
  if (!s.neg_threshold_set) s.segments.neg_threshold = DefaultNegThreshold(s.segments.threshold);
  RETURN_IF_ERROR(CheckParams(s.segments, "settings."));
  return s;
}

StatusOr<SegmentParams> ApplyRequestOptions(const VadSettings& settings, const TaskRequest& request) {
  SegmentParams p = settings.segments;
  bool threshold_given = false, neg_given = false;
  for (const auto& [key, v] : request.numbers) {
    if (key == "threshold")
      p.threshold = v, threshold_given = true;
    else if (key == "neg_threshold")
      p.neg_threshold = v, neg_given = true;
    else if (key == "min_speech_ms" || key == "min_speech_duration_ms")
      p.min_speech_ms = v;
    else if (key == "min_silence_ms" || key == "min_silence_duration_ms")
      p.min_silence_ms = v;
    else if (key == "speech_pad_ms")
      p.speech_pad_ms = v;
    else if (key == "max_speech_s" || key == "max_speech_duration_s")
      p.max_speech_s = v;
  }
  // An explicit neg_threshold in the settings holds until the request moves the threshold.
  if (!neg_given && (threshold_given || !settings.neg_threshold_set))
    p.neg_threshold = DefaultNegThreshold(p.threshold);
  RETURN_IF_ERROR(CheckParams(p, ""));
  return p;
}

StatusOr<std::vector<float>> SpeechProbabilities(std::span<const float> audio, const VadSettings& settings,
                                                 ModelRunner& runner) {
  const int64_t window = settings.segments.window;
  const int64_t context = settings.context_samples;
  const int64_t n = static_cast<int64_t>(audio.size());
  const int64_t windows = (n + window - 1) / window;
  std::vector<float> probs;
  probs.reserve(static_cast<size_t>(windows));
  std::string state(kStateFloats * sizeof(float), '\0');
  std::string sr(sizeof(int64_t), '\0');
  const int64_t rate = settings.segments.sample_rate;
  std::memcpy(sr.data(), &rate, sizeof rate);
  std::vector<Tensor> inputs;
  for (int64_t w = 0; w < windows; ++w) {
    // The window with its context: audio[w·window - context, (w + 1)·window), zeros outside.
    const int64_t begin = w * window - context;
    std::string data(static_cast<size_t>((context + window) * sizeof(float)), '\0');
    const int64_t from = std::max<int64_t>(begin, 0), to = std::min<int64_t>(begin + context + window, n);
    std::memcpy(data.data() + (from - begin) * sizeof(float), audio.data() + from,
                static_cast<size_t>(to - from) * sizeof(float));
    inputs.clear();
    inputs.push_back({"input", DataType::kFp32, {1, context + window}, std::move(data)});
    inputs.push_back({"state", DataType::kFp32, {2, 1, 128}, std::move(state)});
    inputs.push_back({"sr", DataType::kInt64, {}, sr});
    auto out = runner.Run(settings.model, std::move(inputs));
    if (!out.ok()) return out.status().WithContext("vad model '" + settings.model + "'");
    const Tensor* prob = nullptr;
    Tensor* next_state = nullptr;
    for (Tensor& t : *out) {
      if (t.name == "output")
        prob = &t;
      else if (t.name == "stateN")
        next_state = &t;
    }
    if (!prob || !next_state || prob->dtype != DataType::kFp32 || prob->data.size() < sizeof(float) ||
        next_state->dtype != DataType::kFp32 || next_state->data.size() != kStateFloats * sizeof(float)) {
      return Internal(
          "vad model '" + settings.model +
          "': expected outputs `output` (FP32 [1, 1]) and `stateN` (FP32 [2, 1, 128]) of Silero VAD v5");
    }
    float p;
    std::memcpy(&p, prob->data.data(), sizeof p);
    if (!std::isfinite(p))
      return Internal("vad model '" + settings.model + "' returned a non-finite probability");
    probs.push_back(p);
    state = std::move(next_state->data);
  }
  return probs;
}

StatusOr<std::unique_ptr<Task>> CreateVadTask(const CatalogEntry& entry, const TaskLimits& limits) {
  ASSIGN_OR_RETURN(VadSettings settings, ParseVadSettings(entry));
  return std::unique_ptr<Task>(std::make_unique<VadTask>(std::move(settings), limits));
}

}  // namespace continuum::tasks::vad

namespace continuum::tasks {

void RegisterVadTask(TaskRegistry& registry) {
  registry.Register("voice-activity-detection", vad::CreateVadTask);
}

}  // namespace continuum::tasks
