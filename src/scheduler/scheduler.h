// Per model-version request scheduling: a bounded queue, the dynamic batcher, and one thread per
// model instance.
//
// Threading: Enqueue is called from API threads and never blocks on inference. Each instance
// thread owns one runtime::Session; it takes requests from the shared queue (merging compatible
// ones along dimension 0 when dynamic batching is on), runs ORT (whose global thread pool does
// the math), splits the outputs and calls each request's callback on that instance thread.
// Shutdown stops intake, lets the queue drain, and joins the threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "common/inference.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "runtime/runtime.h"
#include "scheduler/batch_policy.h"
#include "scheduler/batching_config.h"
#include "scheduler/stats.h"

namespace continuum {

using InferCallback = std::function<void(StatusOr<InferResponse>)>;

// An emulated node speed, for benchmarks and demos that put a device, an edge site and a cloud
// region on one machine: a slower processor and rare stragglers. Off by default. Applied after
// each engine run, on the instance thread, which stays busy for the padded time exactly as it
// would on a slower processor; statistics and reported timings include it.
struct ComputeEmulation {
  double scale = 1.0;             // engine time is padded to scale x the measured time (>= 1)
  double straggler_fraction = 0;  // probability per executed batch of an extra delay
  double straggler_ms = 0;        // that delay
  uint64_t seed = 1;              // straggler draws are deterministic for a seed

  bool enabled() const { return scale > 1.0 || (straggler_fraction > 0 && straggler_ms > 0); }
  // kInvalidArgument naming the field: scale < 1, fraction outside [0, 1], negative delay.
  Status Validate() const;
};

struct SchedulerOptions {
  int64_t max_batch_size = 0;  // 0: not batchable
  std::optional<DynamicBatchingConfig> dynamic_batching;
  int64_t max_queue_size = 256;
  // Bytes of input tensor data waiting in the queue; a request that would pass it gets 503, one
  // larger than the whole budget 413.
  int64_t max_queue_bytes = 256 << 20;
  int64_t queue_timeout_microseconds = 0;
  ComputeEmulation emulation;
};

// Checks a request against the model before it is queued: every input present once with the
// right datatype, rank and fixed dimensions; the batch dimension within max_batch_size and equal
// across inputs; requested outputs known; element counts within the limit. Reorders the inputs
// into signature order. Errors are kInvalidArgument naming the tensor.
Status ValidateRequest(const runtime::ModelSignature& sig, int64_t max_batch_size,
                       int64_t max_tensor_elements, InferRequest* request);

class Scheduler {
 public:
  // `instances` are sessions of the same model; one thread each.
  Scheduler(std::vector<std::unique_ptr<runtime::Session>> instances, SchedulerOptions options,
            ModelStats* stats);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a validated request. Fails with kUnavailable when the queue is full (by count or by
  // bytes) or the scheduler is shutting down, with kPayloadTooLarge when the request's tensors
  // alone exceed the byte budget; the callback is then not called. Otherwise the callback runs
  // exactly once.
  Status Enqueue(InferRequest request, InferCallback callback);

  // Stops intake, waits until queued and running requests are answered, joins the threads.
  void Shutdown();

  size_t queued() const;
  // Input tensor bytes of the queued requests.
  int64_t queued_bytes() const;
  const runtime::ModelSignature& signature() const { return instances_.front()->signature(); }

 private:
  struct Pending {
    InferRequest request;
    InferCallback callback;
    std::chrono::steady_clock::time_point enqueued;
    int64_t rows = 1;
    int64_t bytes = 0;  // input tensor data, counted against max_queue_bytes while queued
  };
  using Batch = std::vector<std::unique_ptr<Pending>>;
  void InstanceLoop(runtime::Session* session);
  // Takes out of the queue the requests whose client has gone (their cancel token is set), among
  // those the next batch is formed from: the front request, and with dynamic batching the
  // requests TakeBatch scans. They are answered kCancelled without running.
  std::vector<std::unique_ptr<Pending>> TakeCancelled() REQUIRES(mu_);
  // How many requests at the queue front TakeBatch considers for one batch.
  size_t ScanWindow() const;
  // Picks the next batch from the queue front (mu_ held). Returns empty while the batch should
  // wait for more requests; sets *wait_until then.
  Batch TakeBatch(std::chrono::steady_clock::time_point now, std::chrono::steady_clock::time_point free_since,
                  std::chrono::steady_clock::time_point* wait_until) REQUIRES(mu_);
  // Runs a batch and answers it; returns the time from the start to the last callback.
  std::chrono::steady_clock::duration Execute(runtime::Session* session, Batch batch);
  // Execute's steps. The engine's inputs: the single request's own tensors, or the batch's
  // concatenated along dimension 0 into *merged.
  static std::vector<const Tensor*> BatchInputs(const Batch& batch, int64_t total_rows,
                                                std::vector<Tensor>* merged);
  // The outputs to compute: the union of those the requests name; empty (all) when one names none.
  static std::vector<std::string> BatchOutputNames(const Batch& batch);
  // One response per request: its rows of each output it asked for (ids and parameters moved in).
  static Status SplitOutputs(Batch& batch, int64_t total_rows, std::vector<Tensor>& outs,
                             std::vector<InferResponse>* responses);
  void Fail(Pending& p, Status status, FailureReason reason);
  // Sleeps what the emulated speed adds to an engine run of `measured`.
  void Emulate(std::chrono::steady_clock::duration measured);

  std::vector<std::unique_ptr<runtime::Session>> instances_;
  const SchedulerOptions options_;
  ModelStats* stats_;

  mutable Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_ GUARDED_BY(mu_);
  int64_t queued_bytes_ GUARDED_BY(mu_) = 0;  // the bytes of queue_
  int64_t queued_rows_ GUARDED_BY(mu_) = 0;   // the rows of queue_
  BatchPolicy policy_ GUARDED_BY(mu_);
  // Instances waiting with nothing to do, and instances waiting for a batch to fill until a time
  // or until wake_rows_ rows are queued: Enqueue wakes them only when that changes something.
  int idle_waiters_ GUARDED_BY(mu_) = 0;
  int timed_waiters_ GUARDED_BY(mu_) = 0;
  int64_t wake_rows_ GUARDED_BY(mu_) = 0;
  // When the request that woke an idle instance arrived (epoch: none pending).
  std::chrono::steady_clock::time_point wake_sent_ GUARDED_BY(mu_){};
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
  Mutex rng_mu_;
  std::mt19937_64 rng_ GUARDED_BY(rng_mu_);  // straggler draws
};

}  // namespace continuum
