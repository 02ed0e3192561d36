#include "scheduler/stats.h"

#include <map>
#include <mutex>
#include <tuple>

#include "common/json_writer.h"

namespace continuum {

using telemetry::DefaultLatencyBucketsSeconds;

namespace {

// A per-model-version latency histogram in seconds.
telemetry::Family<telemetry::Histogram>& LatencyHistogram(telemetry::Registry& r, std::string name,
                                                          std::string help) {
  return r.AddHistogram(std::move(name), std::move(help), {"model", "version"},
                        DefaultLatencyBucketsSeconds());
}

}  // namespace

InferenceMetricFamilies::InferenceMetricFamilies(telemetry::Registry& r)
    : request_success(r.AddCounter("continuum_inference_request_success_total",
                                   "Successful inference requests (like nv_inference_request_success)",
                                   {"model", "version"})),
      request_failure(r.AddCounter("continuum_inference_request_failure_total",
                                   "Failed inference requests by reason (like nv_inference_request_failure)",
                                   {"model", "version", "reason"})),
      inference_count(r.AddCounter("continuum_inference_count_total",
                                   "Inferences performed; a batch of N counts N (like nv_inference_count)",
                                   {"model", "version"})),
      exec_count(r.AddCounter("continuum_inference_exec_count_total",
                              "Model executions; a batch counts once (like nv_inference_exec_count)",
                              {"model", "version"})),
      pending(r.AddGauge("continuum_inference_pending_requests",
                         "Requests received and not yet answered (like nv_inference_pending_request_count)",
                         {"model", "version"})),
      request_duration(LatencyHistogram(r, "continuum_inference_request_duration_seconds",
                                        "End-to-end inference request time inside the server")),
      queue_duration(LatencyHistogram(r, "continuum_inference_queue_duration_seconds",
                                      "Time requests wait in the scheduler queue")),
      compute_input_duration(LatencyHistogram(r, "continuum_inference_compute_input_duration_seconds",
                                              "Time preparing input tensors for an execution")),
      compute_infer_duration(LatencyHistogram(r, "continuum_inference_compute_infer_duration_seconds",
                                              "Time in ONNX Runtime per execution")),
      compute_output_duration(LatencyHistogram(r, "continuum_inference_compute_output_duration_seconds",
                                               "Time extracting and splitting outputs per execution")),
      batch_size(r.AddHistogram("continuum_inference_batch_size", "Rows per model execution",
                                {"model", "version"}, {1, 2, 4, 8, 16, 32, 64, 128, 256})),
      load_duration(r.AddGauge("continuum_model_load_duration_seconds",
                               "Time the last load of a model version took, warm-up included",
                               {"model", "version"})) {}

const char* FailureReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::kRejected: return "REJECTED";
    case FailureReason::kQueueFull: return "QUEUE_FULL";
    case FailureReason::kTimeout: return "TIMEOUT";
    case FailureReason::kBackend: return "BACKEND";
    case FailureReason::kCanceled: return "CANCELED";
  }
  return "OTHER";
}

namespace {
uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}
double Sec(uint64_t ns) { return static_cast<double>(ns) * 1e-9; }

// Several ModelStats can share one label set: reloading a version (a config change) builds the
// new ModelVersion before the old one goes. The series leave the exposition only when the last
// of them is destroyed; counted per (families, model, version), under one lock that also covers
// the children's lookup and removal.
using LabelKey = std::tuple<const InferenceMetricFamilies*, std::string, std::string>;
std::mutex& LabelUsersMutex() {
  static std::mutex mu;
  return mu;
}
std::map<LabelKey, int>& LabelUsers() {
  static std::map<LabelKey, int> users;
  return users;
}
}  // namespace

ModelStats::ModelStats(InferenceMetricFamilies* f, std::string model, int64_t version)
    : families_(f), model_(std::move(model)), version_(version), version_label_(std::to_string(version)) {
  if (!f) return;
  std::lock_guard users_lock(LabelUsersMutex());
  ++LabelUsers()[LabelKey(f, model_, version_label_)];
  std::vector<std::string> l = {model_, version_label_};
  m_success_ = &f->request_success.WithLabels(l);
  m_inferences_ = &f->inference_count.WithLabels(l);
  m_execs_ = &f->exec_count.WithLabels(l);
  m_pending_ = &f->pending.WithLabels(l);
  m_request_ = &f->request_duration.WithLabels(l);
  m_queue_ = &f->queue_duration.WithLabels(l);
  m_input_ = &f->compute_input_duration.WithLabels(l);
  m_infer_ = &f->compute_infer_duration.WithLabels(l);
  m_output_ = &f->compute_output_duration.WithLabels(l);
  m_batch_ = &f->batch_size.WithLabels(l);
}

ModelStats::~ModelStats() {
  // An unloaded version leaves the exposition (its series would otherwise go stale forever).
  if (!families_) return;
  std::lock_guard users_lock(LabelUsersMutex());
  auto users = LabelUsers().find(LabelKey(families_, model_, version_label_));
  if (users != LabelUsers().end() && --users->second > 0) return;  // a newer instance serves on
  if (users != LabelUsers().end()) LabelUsers().erase(users);
  std::vector<std::string> l = {model_, version_label_};
  families_->request_success.Remove(l);
  for (auto r : {FailureReason::kRejected, FailureReason::kQueueFull, FailureReason::kTimeout,
                 FailureReason::kBackend, FailureReason::kCanceled}) {
    families_->request_failure.Remove({model_, version_label_, FailureReasonName(r)});
  }
  families_->inference_count.Remove(l);
  families_->exec_count.Remove(l);
  families_->pending.Remove(l);
  families_->request_duration.Remove(l);
  families_->queue_duration.Remove(l);
  families_->compute_input_duration.Remove(l);
  families_->compute_infer_duration.Remove(l);
  families_->compute_output_duration.Remove(l);
  families_->batch_size.Remove(l);
  families_->load_duration.Remove(l);
}

void ModelStats::RecordSuccess(uint64_t request_ns, uint64_t queue_ns) {
  success_.Add(request_ns);
  queue_.Add(queue_ns);
  last_inference_ms_.store(NowMs(), std::memory_order_relaxed);
  if (m_success_) {
    m_success_->Increment();
    m_request_->Observe(Sec(request_ns));
    m_queue_->Observe(Sec(queue_ns));
  }
}

void ModelStats::RecordFailure(FailureReason reason, uint64_t request_ns) {
  fail_.Add(request_ns);
  last_inference_ms_.store(NowMs(), std::memory_order_relaxed);
  if (families_) {
    families_->request_failure.WithLabels({model_, version_label_, FailureReasonName(reason)}).Increment();
  }
}

void ModelStats::RecordExecution(int64_t batch_size, uint64_t input_ns, uint64_t infer_ns,
                                 uint64_t output_ns) {
  inference_count_.fetch_add(static_cast<uint64_t>(batch_size), std::memory_order_relaxed);
  execution_count_.fetch_add(1, std::memory_order_relaxed);
  compute_input_.Add(input_ns);
  compute_infer_.Add(infer_ns);
  compute_output_.Add(output_ns);
  {
    std::lock_guard lock(batch_mu_);
    BatchStat& b = batch_stats_[batch_size];
    ++b.count;
    b.input_ns += input_ns;
    b.infer_ns += infer_ns;
    b.output_ns += output_ns;
  }
  if (m_execs_) {
    m_inferences_->Increment(static_cast<uint64_t>(batch_size));
    m_execs_->Increment();
    m_input_->Observe(Sec(input_ns));
    m_infer_->Observe(Sec(infer_ns));
    m_output_->Observe(Sec(output_ns));
    m_batch_->Observe(static_cast<double>(batch_size));
  }
}

void ModelStats::AddPending(int delta) {
  if (m_pending_) m_pending_->Add(delta);
}

void ModelStats::RecordLoad(std::chrono::nanoseconds d) {
  if (families_) families_->load_duration.WithLabels({model_, version_label_}).Set(Sec(d.count()));
}

namespace {
void WriteDuration(JsonWriter& w, const char* key, const DurationStat& d) {
  w.Key(key).BeginObject().Key("count").Uint(d.count.load()).Key("ns").Uint(d.ns.load()).EndObject();
}
void WriteDuration(JsonWriter& w, const char* key, uint64_t count, uint64_t ns) {
  w.Key(key).BeginObject().Key("count").Uint(count).Key("ns").Uint(ns).EndObject();
}
}  // namespace

std::string ModelStats::ToJson() const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("name").String(model_).Key("version").String(version_label_);
  w.Key("last_inference").Uint(last_inference_ms_.load());
  w.Key("inference_count").Uint(inference_count_.load());
  w.Key("execution_count").Uint(execution_count_.load());
  w.Key("inference_stats").BeginObject();
  WriteDuration(w, "success", success_);
  WriteDuration(w, "fail", fail_);
  WriteDuration(w, "queue", queue_);
  WriteDuration(w, "compute_input", compute_input_);
  WriteDuration(w, "compute_infer", compute_infer_);
  WriteDuration(w, "compute_output", compute_output_);
  WriteDuration(w, "cache_hit", 0, 0);
  WriteDuration(w, "cache_miss", 0, 0);
  w.EndObject();
  w.Key("batch_stats").BeginArray();
  {
    std::lock_guard lock(batch_mu_);
    for (const auto& [size, b] : batch_stats_) {
      w.BeginObject().Key("batch_size").Int(size);
      WriteDuration(w, "compute_input", b.count, b.input_ns);
      WriteDuration(w, "compute_infer", b.count, b.infer_ns);
      WriteDuration(w, "compute_output", b.count, b.output_ns);
      w.EndObject();
    }
  }
  w.EndArray().EndObject();
  return out;
}

}  // namespace continuum
