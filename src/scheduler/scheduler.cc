#include "scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#ifdef __linux__
#include <sys/prctl.h>
#endif

namespace continuum {

using Clock = std::chrono::steady_clock;

namespace {

uint64_t Ns(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

std::string NameList(const std::vector<runtime::TensorSpec>& specs) {
  std::string s;
  for (const auto& t : specs) s += (s.empty() ? "" : ", ") + t.name;
  return s;
}

// Two requests can share an execution when every input agrees beyond dimension 0.
bool Compatible(const InferRequest& a, const InferRequest& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Shape& x = a.inputs[i].shape;
    const Shape& y = b.inputs[i].shape;
    if (x.size() != y.size() || !std::equal(x.begin() + 1, x.end(), y.begin() + 1)) return false;
  }
  return true;
}

// Rows [begin, begin + rows) of a tensor whose dimension 0 has `total_rows` rows.
StatusOr<Tensor> SliceRows(const Tensor& t, int64_t total_rows, int64_t begin, int64_t rows) {
  if (t.shape.empty() || t.shape[0] != total_rows) {
    return Internal("output '" + t.name + "' has shape " + ShapeToString(t.shape) +
                    ", which does not keep the batch dimension of " + std::to_string(total_rows) +
                    " rows; the model cannot be batched");
  }
  Tensor out{t.name, t.dtype, t.shape, {}};
  out.shape[0] = rows;
  if (t.dtype != DataType::kBytes) {
    size_t row_bytes = t.data.size() / static_cast<size_t>(total_rows);
    out.data.assign(t.data, static_cast<size_t>(begin) * row_bytes, static_cast<size_t>(rows) * row_bytes);
    return out;
  }
  const int64_t n = t.NumElements();
  const int64_t per_row = n / total_rows;
  ASSIGN_OR_RETURN(auto parts, SplitBytesElements(t.data, n));
  for (int64_t e = begin * per_row; e < (begin + rows) * per_row; ++e) {
    AppendBytesElement(out.data, parts[static_cast<size_t>(e)]);
  }
  return out;
}

BatchPolicy::Options PolicyOptions(const SchedulerOptions& o) {
  BatchPolicy::Options p;
  p.max_batch_size = o.max_batch_size;
  if (o.dynamic_batching) {
    p.preferred_batch_size = o.dynamic_batching->preferred_batch_size;
    p.max_queue_delay_microseconds = o.dynamic_batching->max_queue_delay_microseconds;
    p.max_adaptive_delay_microseconds = o.dynamic_batching->max_adaptive_delay_microseconds;
    // An adaptive wait never makes a request time out on its own.
    if (o.queue_timeout_microseconds > 0) {
      p.max_adaptive_delay_microseconds =
          std::min(p.max_adaptive_delay_microseconds, o.queue_timeout_microseconds / 2);
    }
  }
  return p;
}

}  // namespace

Status ComputeEmulation::Validate() const {
  if (!(scale >= 1.0) || !std::isfinite(scale))
    return InvalidArgument("compute scale must be a finite number >= 1, got " + std::to_string(scale));
  if (!(straggler_fraction >= 0 && straggler_fraction <= 1))
    return InvalidArgument("straggler fraction must be within [0, 1], got " +
                           std::to_string(straggler_fraction));
  if (!(straggler_ms >= 0) || !std::isfinite(straggler_ms))
    return InvalidArgument("straggler delay must be a finite number of milliseconds >= 0, got " +
                           std::to_string(straggler_ms));
  return Status::Ok();
}

void Scheduler::Emulate(Clock::duration measured) {
  const ComputeEmulation& e = options_.emulation;
  auto extra = std::chrono::duration_cast<Clock::duration>(measured * (e.scale - 1.0));
  if (e.straggler_fraction > 0 && e.straggler_ms > 0) {
    double draw;
    {
      MutexLock lock(rng_mu_);
      draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    }
    if (draw < e.straggler_fraction)
      extra += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double, std::milli>(e.straggler_ms));
  }
  if (extra.count() > 0) std::this_thread::sleep_for(extra);
}

Status ValidateRequest(const runtime::ModelSignature& sig, int64_t max_batch_size,
                       int64_t max_tensor_elements, InferRequest* request) {
  std::vector<Tensor> ordered(sig.inputs.size());
  std::vector<bool> seen(sig.inputs.size(), false);
  for (Tensor& t : request->inputs) {
    auto it = std::find_if(sig.inputs.begin(), sig.inputs.end(),
                           [&](const runtime::TensorSpec& s) { return s.name == t.name; });
    if (it == sig.inputs.end()) {
      return InvalidArgument("unknown input '" + t.name + "' (the model's inputs: " + NameList(sig.inputs) +
                             ")");
    }
    size_t idx = static_cast<size_t>(it - sig.inputs.begin());
    if (seen[idx]) return InvalidArgument("input '" + t.name + "' is given more than once");
    seen[idx] = true;
    const runtime::TensorSpec& spec = *it;
    std::string where = "input '" + t.name + "': ";
    if (t.dtype != spec.dtype) {
      return InvalidArgument(where + "datatype " + std::string(DataTypeName(t.dtype)) +
                             " does not match the model's " + std::string(DataTypeName(spec.dtype)));
    }
    if (t.shape.size() != spec.shape.size()) {
      return InvalidArgument(where + "shape " + ShapeToString(t.shape) + " has rank " +
                             std::to_string(t.shape.size()) + " but the model expects rank " +
                             std::to_string(spec.shape.size()) + " " + ShapeToString(spec.shape));
    }
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (spec.shape[d] >= 0 && t.shape[d] != spec.shape[d]) {
        return InvalidArgument(where + "shape " + ShapeToString(t.shape) + " does not match the model's " +
                               ShapeToString(spec.shape) + " at dimension " + std::to_string(d));
      }
    }
    auto count = ElementCount(t.shape, max_tensor_elements);
    if (!count.ok()) return count.status().WithContext(where.substr(0, where.size() - 2));
    RETURN_IF_ERROR(t.Validate().WithContext(where.substr(0, where.size() - 2)));
    if (max_batch_size > 0) {
      if (t.shape[0] < 1 || t.shape[0] > max_batch_size) {
        return InvalidArgument(where + "batch size " + std::to_string(t.shape[0]) +
                               " (dimension 0) must be between 1 and the model's max_batch_size " +
                               std::to_string(max_batch_size));
      }
    }
    ordered[idx] = std::move(t);
  }
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    if (!seen[i]) return InvalidArgument("missing input '" + sig.inputs[i].name + "'");
  }
  if (max_batch_size > 0) {
    for (const Tensor& t : ordered) {
      if (t.shape[0] != ordered[0].shape[0]) {
        return InvalidArgument("inputs '" + ordered[0].name + "' and '" + t.name +
                               "' disagree on the batch size (dimension 0): " +
                               std::to_string(ordered[0].shape[0]) + " vs " + std::to_string(t.shape[0]));
      }
    }
  }
  std::unordered_set<std::string> outs;
  for (const RequestedOutput& o : request->outputs) {
    bool known = std::any_of(sig.outputs.begin(), sig.outputs.end(),
                             [&](const runtime::TensorSpec& s) { return s.name == o.name; });
    if (!known) {
      return InvalidArgument("unknown output '" + o.name +
                             "' (the model's outputs: " + NameList(sig.outputs) + ")");
    }
    if (!outs.insert(o.name).second)
      return InvalidArgument("output '" + o.name + "' is requested more than once");
  }
  request->inputs = std::move(ordered);
  return Status::Ok();
}

Scheduler::Scheduler(std::vector<std::unique_ptr<runtime::Session>> instances, SchedulerOptions options,
                     ModelStats* stats)
    : instances_(std::move(instances)),
      options_(std::move(options)),
      stats_(stats),
      policy_(PolicyOptions(options_)),
      rng_(options_.emulation.seed) {
  for (auto& s : instances_) {
    threads_.emplace_back([this, session = s.get()] { InstanceLoop(session); });
  }
}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Shutdown() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t Scheduler::queued() const {
  MutexLock lock(mu_);
  return queue_.size();
}

int64_t Scheduler::queued_bytes() const {
  MutexLock lock(mu_);
  return queued_bytes_;
}

Status Scheduler::Enqueue(InferRequest request, InferCallback callback) {
  auto p = std::make_unique<Pending>();
  p->rows = options_.max_batch_size > 0 && !request.inputs.empty() ? request.inputs[0].shape[0] : 1;
  for (const Tensor& t : request.inputs) p->bytes += static_cast<int64_t>(t.data.size());
  if (p->bytes > options_.max_queue_bytes) {
    if (stats_) stats_->RecordFailure(FailureReason::kRejected, 0);
    return PayloadTooLarge("the request's input tensors hold " + std::to_string(p->bytes) +
                           " bytes, more than the queue's budget of " +
                           std::to_string(options_.max_queue_bytes) + " (limits.max_queue_bytes)");
  }
  p->request = std::move(request);
  p->callback = std::move(callback);
  p->enqueued = Clock::now();
  bool wake = false;
  {
    MutexLock lock(mu_);
    if (stopping_) return Unavailable("model is being unloaded");
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queue_size) {
      if (stats_) stats_->RecordFailure(FailureReason::kQueueFull, 0);
      return Unavailable("queue full: " + std::to_string(queue_.size()) +
                         " requests waiting (limits.max_queue_size)");
    }
    if (p->bytes > options_.max_queue_bytes - queued_bytes_) {
      if (stats_) stats_->RecordFailure(FailureReason::kQueueFull, 0);
      return Unavailable("queue full: " + std::to_string(queued_bytes_) +
                         " bytes of tensors waiting, no room for " + std::to_string(p->bytes) +
                         " more (limits.max_queue_bytes)");
    }
    queued_bytes_ += p->bytes;
    queued_rows_ += p->rows;
    policy_.OnArrival(p->enqueued);
    // Counted under the lock, before an instance can take it and count it out again (the
    // pending gauge never dips below zero).
    if (stats_) stats_->AddPending(1);
    queue_.push_back(std::move(p));
    // An idle instance takes the request; one gathering a batch is woken only when the batch
    // may be complete now (else it wakes at its own time). A busy instance takes it when done.
    wake = idle_waiters_ > 0 || (timed_waiters_ > 0 && queued_rows_ >= wake_rows_);
    if (idle_waiters_ > 0 && wake_sent_ == Clock::time_point{}) wake_sent_ = queue_.back()->enqueued;
  }
  if (wake) cv_.notify_all();
  return Status::Ok();
}

void Scheduler::Fail(Pending& p, Status status, FailureReason reason) {
  if (stats_) {
    stats_->RecordFailure(reason, Ns(Clock::now() - p.enqueued));
    stats_->AddPending(-1);
  }
  p.callback(std::move(status));
}

size_t Scheduler::ScanWindow() const {
  const bool batching = options_.max_batch_size > 0 && options_.dynamic_batching.has_value();
  return batching ? static_cast<size_t>(options_.max_batch_size) * 4 + 16 : 1;
}

std::vector<std::unique_ptr<Scheduler::Pending>> Scheduler::TakeCancelled() {
  std::vector<std::unique_ptr<Pending>> cancelled;
  // Dropping one brings a later request into the window, so the window is counted over the
  // requests kept.
  size_t kept = 0;
  for (size_t i = 0; i < queue_.size() && kept < ScanWindow();) {
    if (!queue_[i]->request.cancel.cancelled()) {
      ++i;
      ++kept;
      continue;
    }
    queued_rows_ -= queue_[i]->rows;
    queued_bytes_ -= queue_[i]->bytes;
    cancelled.push_back(std::move(queue_[i]));
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  return cancelled;
}

std::vector<std::unique_ptr<Scheduler::Pending>> Scheduler::TakeBatch(Clock::time_point now,
                                                                      Clock::time_point free_since,
                                                                      Clock::time_point* wait_until) {
  std::vector<std::unique_ptr<Pending>> batch;
  *wait_until = Clock::time_point::max();
  if (queue_.empty()) return batch;
  const bool batching = options_.max_batch_size > 0 && options_.dynamic_batching.has_value();
  if (!batching) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
    return batch;
  }
  const InferRequest& head = queue_.front()->request;
  std::vector<size_t> picked;
  int64_t rows = 0;
  const size_t scan = std::min(queue_.size(), ScanWindow());
  for (size_t i = 0; i < scan && rows < options_.max_batch_size; ++i) {
    const Pending& p = *queue_[i];
    if (rows + p.rows > options_.max_batch_size) continue;
    if (i > 0 && !Compatible(head, p.request)) continue;
    picked.push_back(i);
    rows += p.rows;
  }
  const auto& preferred = options_.dynamic_batching->preferred_batch_size;
  const bool preferred_alone = picked.size() == queue_.size() &&
                               std::find(preferred.begin(), preferred.end(), rows) != preferred.end();
  const BatchPolicy::Decision d =
      policy_.Decide(now, queue_.front()->enqueued, free_since, rows, preferred_alone);
  if (!d.run && !stopping_) {
    *wait_until = d.wake_at;
    wake_rows_ = d.wake_rows;
    return batch;
  }
  std::deque<std::unique_ptr<Pending>> rest;
  size_t next = 0;
  for (size_t i = 0; i < queue_.size(); ++i) {
    if (next < picked.size() && picked[next] == i) {
      batch.push_back(std::move(queue_[i]));
      ++next;
    } else {
      rest.push_back(std::move(queue_[i]));
    }
  }
  queue_.swap(rest);
  return batch;
}

void Scheduler::InstanceLoop(runtime::Session* session) {
#ifdef __linux__
  // Timed waits for a batch to fill are tens of microseconds; the default timer slack (50 µs)
  // would let each of them run up to that much longer.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
#endif
  MutexLock lock(mu_);
  Clock::time_point free_since = Clock::now();  // when this instance's last run ended or it woke
  while (true) {
    // Requests that waited past the queue timeout fail without running.
    std::vector<std::unique_ptr<Pending>> expired;
    const auto now = Clock::now();
    if (options_.queue_timeout_microseconds > 0) {
      const auto limit = std::chrono::microseconds(options_.queue_timeout_microseconds);
      while (!queue_.empty() && now - queue_.front()->enqueued > limit) {
        queued_rows_ -= queue_.front()->rows;
        expired.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    auto cancelled = TakeCancelled();
    Clock::time_point wait_until;
    auto batch = TakeBatch(now, free_since, &wait_until);
    for (const auto& p : expired) queued_bytes_ -= p->bytes;
    int64_t batch_rows = 0;
    for (const auto& p : batch) {
      queued_bytes_ -= p->bytes;
      batch_rows += p->rows;
    }
    queued_rows_ -= batch_rows;
    if (!expired.empty() || !cancelled.empty() || !batch.empty()) {
      lock.Unlock();
      for (auto& p : cancelled) {
        Fail(*p, Cancelled("the client went away before the request ran"), FailureReason::kCanceled);
      }
      for (auto& p : expired) {
        Fail(*p,
             Unavailable("request waited longer than the queue timeout of " +
                         std::to_string(options_.queue_timeout_microseconds) + " µs"),
             FailureReason::kTimeout);
      }
      Clock::duration took{};
      if (!batch.empty()) took = Execute(session, std::move(batch));
      lock.Lock();
      if (batch_rows > 0) policy_.OnRun(batch_rows, took);
      free_since = Clock::now();
      continue;
    }
    if (stopping_ && queue_.empty()) return;
    if (wait_until == Clock::time_point::max()) {
      ++idle_waiters_;
      lock.Wait(cv_);
      --idle_waiters_;
      free_since = Clock::now();
      if (wake_sent_ != Clock::time_point{}) {
        policy_.OnHandoff(free_since - wake_sent_);
        wake_sent_ = {};
      }
    } else {
      ++timed_waiters_;
      const auto woke = lock.WaitUntil(cv_, wait_until);
      --timed_waiters_;
      if (woke == std::cv_status::timeout) policy_.OnTimedWake(wait_until, Clock::now());
    }
  }
}

std::vector<const Tensor*> Scheduler::BatchInputs(const Batch& batch, int64_t total_rows,
                                                  std::vector<Tensor>* merged) {
  std::vector<const Tensor*> inputs;
  const InferRequest& head = batch.front()->request;
  if (batch.size() == 1) {
    for (const Tensor& t : head.inputs) inputs.push_back(&t);
    return inputs;
  }
  merged->resize(head.inputs.size());
  for (size_t i = 0; i < head.inputs.size(); ++i) {
    Tensor& m = (*merged)[i];
    m.name = head.inputs[i].name;
    m.dtype = head.inputs[i].dtype;
    m.shape = head.inputs[i].shape;
    m.shape[0] = total_rows;
    size_t bytes = 0;
    for (auto& p : batch) bytes += p->request.inputs[i].data.size();
    m.data.reserve(bytes);
    for (auto& p : batch) m.data.append(p->request.inputs[i].data);
    inputs.push_back(&m);
  }
  return inputs;
}

std::vector<std::string> Scheduler::BatchOutputNames(const Batch& batch) {
  std::vector<std::string> output_names;
  for (auto& p : batch) {
    if (p->request.outputs.empty()) return {};  // one request wants them all
    for (const auto& o : p->request.outputs) {
      if (std::find(output_names.begin(), output_names.end(), o.name) == output_names.end()) {
        output_names.push_back(o.name);
      }
    }
  }
  return output_names;
}

Status Scheduler::SplitOutputs(Batch& batch, int64_t total_rows, std::vector<Tensor>& outs,
                               std::vector<InferResponse>* responses) {
  responses->resize(batch.size());
  int64_t row = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    InferRequest& req = batch[b]->request;
    InferResponse& resp = (*responses)[b];
    resp.id = std::move(req.id);
    resp.model_name = req.model_name;
    resp.model_version = req.model_version;
    resp.parameters_json = std::move(req.parameters_json);
    auto emit = [&](size_t out_idx, bool binary) -> Status {
      if (batch.size() == 1) {
        resp.outputs.push_back(std::move(outs[out_idx]));  // each output is taken once
      } else {
        ASSIGN_OR_RETURN(Tensor t, SliceRows(outs[out_idx], total_rows, row, batch[b]->rows));
        resp.outputs.push_back(std::move(t));
      }
      resp.binary.push_back(binary);
      return Status::Ok();
    };
    if (req.outputs.empty()) {
      for (size_t i = 0; i < outs.size(); ++i) RETURN_IF_ERROR(emit(i, req.binary_data_output));
    } else {
      for (const auto& o : req.outputs) {
        size_t idx = 0;
        while (outs[idx].name != o.name) ++idx;  // present: validated and requested above
        RETURN_IF_ERROR(emit(idx, o.binary));
      }
    }
    row += batch[b]->rows;
  }
  return Status::Ok();
}

Clock::duration Scheduler::Execute(runtime::Session* session, Batch batch) {
  const auto t0 = Clock::now();
  int64_t total_rows = 0;
  for (auto& p : batch) total_rows += p->rows;

  // Inputs: a single request runs on its own tensors; a batch is concatenated along dim 0.
  // Outputs: the union of what the requests asked for (empty: all).
  std::vector<Tensor> merged;
  const std::vector<const Tensor*> inputs = BatchInputs(batch, total_rows, &merged);
  const std::vector<std::string> output_names = BatchOutputNames(batch);

  const auto t1 = Clock::now();
  auto result = session->Run(inputs, output_names);
  if (options_.emulation.enabled()) Emulate(Clock::now() - t1);
  const auto t2 = Clock::now();
  std::vector<InferResponse> responses;
  const Status split = result.ok() ? SplitOutputs(batch, total_rows, *result, &responses) : result.status();
  if (!split.ok()) {
    for (auto& p : batch) Fail(*p, split, FailureReason::kBackend);
    return Clock::now() - t0;
  }
  const auto t3 = Clock::now();
  if (stats_) stats_->RecordExecution(total_rows, Ns(t1 - t0), Ns(t2 - t1), Ns(t3 - t2));
  for (size_t b = 0; b < batch.size(); ++b) {
    Pending& p = *batch[b];
    responses[b].run_ns = static_cast<int64_t>(Ns(t3 - t0));
    responses[b].batch_share =
        total_rows > 0 ? static_cast<double>(p.rows) / static_cast<double>(total_rows) : 1.0 / batch.size();
    if (stats_) {
      stats_->RecordSuccess(Ns(Clock::now() - p.enqueued), Ns(t0 - p.enqueued));
      stats_->AddPending(-1);
    }
    p.callback(std::move(responses[b]));
  }
  return Clock::now() - t0;
}

}  // namespace continuum
