// Per model-version statistics: the counters behind the v2 statistics extension (Triton's
// shape) and the Prometheus families under continuum_inference_*.
// Thread-safe: recorded from scheduler threads, read from API threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "telemetry/metrics.h"

namespace continuum {

// The Prometheus families shared by every model; registered once per registry.
struct InferenceMetricFamilies {
  explicit InferenceMetricFamilies(telemetry::Registry& registry);
  telemetry::Family<telemetry::Counter>& request_success;
  telemetry::Family<telemetry::Counter>& request_failure;
  telemetry::Family<telemetry::Counter>& inference_count;
  telemetry::Family<telemetry::Counter>& exec_count;
  telemetry::Family<telemetry::Gauge>& pending;
  telemetry::Family<telemetry::Histogram>& request_duration;
  telemetry::Family<telemetry::Histogram>& queue_duration;
  telemetry::Family<telemetry::Histogram>& compute_input_duration;
  telemetry::Family<telemetry::Histogram>& compute_infer_duration;
  telemetry::Family<telemetry::Histogram>& compute_output_duration;
  telemetry::Family<telemetry::Histogram>& batch_size;
  telemetry::Family<telemetry::Gauge>& load_duration;
};

struct DurationStat {
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ns{0};
  void Add(uint64_t n) {
    count.fetch_add(1, std::memory_order_relaxed);
    ns.fetch_add(n, std::memory_order_relaxed);
  }
};

// Failure reasons, as label values of continuum_inference_request_failure_total.
enum class FailureReason { kRejected, kQueueFull, kTimeout, kBackend, kCanceled };
const char* FailureReasonName(FailureReason r);

class ModelStats {
 public:
  ModelStats(InferenceMetricFamilies* families, std::string model, int64_t version);
  ~ModelStats();

  void RecordSuccess(uint64_t request_ns, uint64_t queue_ns);
  void RecordFailure(FailureReason reason, uint64_t request_ns);
  // One ORT execution of `batch_size` rows (requests merged by the dynamic batcher).
  void RecordExecution(int64_t batch_size, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
  void AddPending(int delta);
  void RecordLoad(std::chrono::nanoseconds d);

  // The model_stats entry of GET /v2/models/{m}/versions/{v}/stats (one JSON object).
  std::string ToJson() const;

  const std::string& model() const { return model_; }
  int64_t version() const { return version_; }

 private:
  struct BatchStat {
    uint64_t count = 0, input_ns = 0, infer_ns = 0, output_ns = 0;
  };
  InferenceMetricFamilies* families_;
  std::string model_;
  int64_t version_;
  std::string version_label_;

  std::atomic<uint64_t> last_inference_ms_{0};
  std::atomic<uint64_t> inference_count_{0};
  std::atomic<uint64_t> execution_count_{0};
  DurationStat success_, fail_, queue_, compute_input_, compute_infer_, compute_output_;
  mutable std::mutex batch_mu_;
  std::map<int64_t, BatchStat> batch_stats_;  // guarded by batch_mu_

  // Prometheus children, cached (nullptr when no registry).
  telemetry::Counter* m_success_ = nullptr;
  telemetry::Counter* m_inferences_ = nullptr;
  telemetry::Counter* m_execs_ = nullptr;
  telemetry::Gauge* m_pending_ = nullptr;
  telemetry::Histogram* m_request_ = nullptr;
  telemetry::Histogram* m_queue_ = nullptr;
  telemetry::Histogram* m_input_ = nullptr;
  telemetry::Histogram* m_infer_ = nullptr;
  telemetry::Histogram* m_output_ = nullptr;
  telemetry::Histogram* m_batch_ = nullptr;
};

}  // namespace continuum
