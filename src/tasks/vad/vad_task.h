// Task kind "voice-activity-detection": a WAV file in, speech segments out.
//
//   request  TaskRequest.binary: the WAV (any rate, channel count, PCM 8..32-bit or float);
//            numbers (optional): threshold, neg_threshold, min_speech_ms, min_silence_ms,
//            speech_pad_ms, max_speech_s; flags: probabilities (also return the per-window
//            speech probabilities).
//   result   {"segments":[{"start":1.23,"end":2.5}],"duration":10.0,"sample_rate":16000}
//            (seconds; sample_rate is the rate the model ran at)
//
// Catalog entry: models {"vad": "<repository model>"}, a Silero VAD v5 graph (inputs `input`
// [1, context + window] f32, `state` [2, 1, 128] f32, `sr` int64 scalar; outputs `output` [1, 1],
// `stateN`). Settings (all optional): threshold 0.5, neg_threshold threshold - 0.15 (at least
// 0.01), min_speech_ms 250, min_silence_ms 100, speech_pad_ms 30, max_speech_s unlimited,
// sample_rate 16000 (or 8000), window_samples 512 (256 at 8 kHz), context_samples 64 (32 at
// 8 kHz).
//
// The model is stateful: the audio is resampled to the model rate and cut into windows, and each
// window is one ModelRunner call (so one request through the model's scheduler) carrying the
// state returned by the previous one. As in the reference implementation (silero-vad's
// OnnxWrapper, vad-web's Silero class) each window is preceded by the last `context_samples` of
// the previous one (zeros for the first). The repository model must not batch
// (max_batch_size 0): rows of a batch would share no state.
//
// Thread-safety: a VadTask is immutable; concurrent Run calls each carry their own state.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "tasks/task.h"
#include "tasks/vad/segments.h"

namespace continuum::tasks::vad {

struct VadSettings {
  std::string model;               // repository model (role "vad")
  SegmentParams segments;          // defaults for requests
  bool neg_threshold_set = false;  // false: derived from the threshold in effect
  int context_samples = 64;
};

StatusOr<VadSettings> ParseVadSettings(const CatalogEntry& entry);

// The segmentation parameters for one request: the settings with the request's numeric options
// applied (unknown options are ignored; bad values are kInvalidArgument).
StatusOr<SegmentParams> ApplyRequestOptions(const VadSettings& settings, const TaskRequest& request);

// Runs `audio` (mono, at settings.segments.sample_rate) through the model window by window and
// returns one speech probability per window (the last window zero-padded).
StatusOr<std::vector<float>> SpeechProbabilities(std::span<const float> audio, const VadSettings& settings,
                                                 ModelRunner& runner);

StatusOr<std::unique_ptr<Task>> CreateVadTask(const CatalogEntry& entry, const TaskLimits& limits);

}  // namespace continuum::tasks::vad
