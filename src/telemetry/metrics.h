// A metrics registry rendered in the Prometheus text exposition format (version 0.0.4).
// Families are registered once (name, help, type, label names); children are looked up by label
// values and cached by callers, so the hot path is one atomic add.
// Thread-safe: every method may be called from any thread.
//
// Programming errors throw std::invalid_argument: an invalid or already registered metric name,
// an invalid label name ("le" is reserved for histograms, "__" prefixes for Prometheus),
// unsorted histogram bounds, or a WithLabels/Remove call with the wrong number of values.
// A family without label names has exactly one child, created at registration (so it renders
// "name 0" before the first update); a labelled family with no children renders HELP/TYPE only.
//
// Label cardinality is bounded: a family holds at most `max_label_sets` live children (the
// registry's default, or the family's own from SetMaxLabelSets). Beyond that, a new label set
// folds into one overflow child whose every label value is "__other__", and
// continuum_metrics_label_sets_dropped_total{metric} counts the label sets folded (rendered once
// any has been). A label value taken from a request can therefore never grow memory or the
// exposition without bound.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace continuum::telemetry {

class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Snap() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf bucket)
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

template <typename T>
class Family;

// The label value of the overflow child (every label of it).
inline constexpr std::string_view kOverflowLabelValue = "__other__";
// The counter of label sets folded into a family's overflow child, by family name.
inline constexpr std::string_view kDroppedLabelSetsMetric = "continuum_metrics_label_sets_dropped_total";

struct RegistryOptions {
  // Live children per labelled family before new label sets fold into the overflow child (>= 1).
  size_t max_label_sets = 10000;
};

class Registry {
 public:
  explicit Registry(RegistryOptions options = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounter(std::string name, std::string help, std::vector<std::string> labels);
  Family<Gauge>& AddGauge(std::string name, std::string help, std::vector<std::string> labels);
  Family<Histogram>& AddHistogram(std::string name, std::string help, std::vector<std::string> labels,
                                  std::vector<double> bounds);
  // A gauge computed at scrape time (e.g. process memory).
  void AddCallbackGauge(std::string name, std::string help, std::function<double()> fn);
  // A counter computed at scrape time (e.g. process CPU time); fn must never decrease.
  void AddCallbackCounter(std::string name, std::string help, std::function<double()> fn);
  // A labelled family computed at scrape time (e.g. stats a component keeps in its own atomics):
  // fn returns each child's label values (as many as `labels`) and value. `counter`: a counter
  // family (each child's value must never decrease), else a gauge family.
  struct Sample {
    std::vector<std::string> label_values;
    double value = 0;
  };
  void AddCallbackFamily(const std::string& name, std::string help, bool counter,
                         std::vector<std::string> labels, std::function<std::vector<Sample>()> fn);

  // The whole registry in Prometheus text format.
  std::string Render() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A metric family: children keyed by label values. Children live as long as the family
// (Remove drops a child from the exposition; references handed out stay valid).
template <typename T>
class Family {
 public:
  virtual ~Family() = default;
  // The child of these label values; beyond the family's label-set bound, the overflow child.
  virtual T& WithLabels(const std::vector<std::string>& values) = 0;
  virtual void Remove(const std::vector<std::string>& values) = 0;
  // This family's bound on live label sets (>= 1), instead of the registry's default.
  virtual void SetMaxLabelSets(size_t max) = 0;
};

// Latency buckets in seconds, 50 µs .. 60 s (Prometheus base units).
std::vector<double> DefaultLatencyBucketsSeconds();

// Registers process_resident_memory_bytes and process_virtual_memory_bytes (from /proc),
// process_open_fds, process_max_fds, process_cpu_seconds_total and process_start_time_seconds.
void RegisterProcessMetrics(Registry& registry);

}  // namespace continuum::telemetry
