#include "telemetry/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_set>
#include <utility>

namespace continuum::telemetry {
namespace {

// --- Text format helpers ---------------------------------------------------------------------

// Integral values print without exponent or decimal point; other finite values print in the
// shortest form that round-trips, fixed notation unless |v| < 1e-4 (like Go's %g, which the
// Prometheus client libraries use, so `le` labels match theirs: "5e-05", "0.0001", "2.5").
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (v == 0) {  // also turns -0 into 0
    out += '0';
    return;
  }
  char buf[400];  // fixed notation of the largest double needs 309 digits
  const bool tiny = std::fabs(v) < 1e-4;
  const auto format = tiny ? std::chars_format::scientific : std::chars_format::fixed;
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, format);
  (void)ec;  // buf is always large enough
  out.append(buf, end);
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  out.append(buf, end);
}

void AppendEscaped(std::string& out, std::string_view s, bool escape_quote) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        if (escape_quote) {
          out += "\\\"";
          break;
        }
        [[fallthrough]];
      default: out += c;
    }
  }
}

// `{a="x",b="y"}`, with an optional trailing `le` label; nothing when there are no labels.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string* le = nullptr) {
  if (names.empty() && le == nullptr) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendEscaped(out, values[i], /*escape_quote=*/true);
    out += '"';
  }
  if (le != nullptr) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void AppendSampleStart(std::string& out, std::string_view name, std::string_view suffix,
                       const std::vector<std::string>& names, const std::vector<std::string>& values,
                       const std::string* le = nullptr) {
  out += name;
  out += suffix;
  AppendLabels(out, names, values, le);
  out += ' ';
}

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Counter& c) {
  AppendSampleStart(out, name, "", names, values);
  AppendUint(out, c.value());
  out += '\n';
}

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Gauge& g) {
  AppendSampleStart(out, name, "", names, values);
  AppendDouble(out, g.value());
  out += '\n';
}

void RenderChild(std::string& out, const std::string& name, const std::vector<std::string>& names,
                 const std::vector<std::string>& values, const Histogram& h) {
  const Histogram::Snapshot s = h.Snap();
  std::string le;
  for (size_t i = 0; i < s.cumulative_counts.size(); ++i) {
    le.clear();
    if (i < s.upper_bounds.size()) {
      AppendDouble(le, s.upper_bounds[i]);
    } else {
      le = "+Inf";
    }
    AppendSampleStart(out, name, "_bucket", names, values, &le);
    AppendUint(out, s.cumulative_counts[i]);
    out += '\n';
  }
  AppendSampleStart(out, name, "_sum", names, values);
  AppendDouble(out, s.sum);
  out += '\n';
  AppendSampleStart(out, name, "_count", names, values);
  AppendUint(out, s.count);
  out += '\n';
}

// --- Validation ---------------------------------------------------------------------------------

bool IsNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (allow_colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsValidName(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!IsNameChar(s[i], i == 0, allow_colon)) return false;
  }
  return true;
}

void ValidateLabelNames(const std::string& metric, const std::vector<std::string>& labels, bool histogram) {
  std::unordered_set<std::string_view> seen;
  for (const std::string& l : labels) {
    if (!IsValidName(l, /*allow_colon=*/false) || l.starts_with("__") || (histogram && l == "le")) {
      throw std::invalid_argument("metric " + metric + ": invalid label name '" + l + "'");
    }
    if (!seen.insert(l).second) {
      throw std::invalid_argument("metric " + metric + ": duplicate label name '" + l + "'");
    }
  }
}

// --- Families -----------------------------------------------------------------------------------

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::string_view type)
      : name_(std::move(name)), help_(std::move(help)), type_(type) {}
  virtual ~FamilyBase() = default;

  void Render(std::string& out) const {
    out += "# HELP ";
    out += name_;
    out += ' ';
    AppendEscaped(out, help_, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += type_;
    out += '\n';
    RenderSamples(out);
  }

 protected:
  virtual void RenderSamples(std::string& out) const = 0;
  const std::string name_;

 private:
  const std::string help_;
  const std::string_view type_;
};

template <typename T>
class FamilyImpl final : public Family<T>, public FamilyBase {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  // `dropped` counts the label sets folded into the overflow child (null: never folds).
  FamilyImpl(std::string name, std::string help, std::string_view type, std::vector<std::string> labels,
             Factory make, size_t max_label_sets, Family<Counter>* dropped)
      : FamilyBase(std::move(name), std::move(help), type),
        labels_(std::move(labels)),
        make_(std::move(make)),
        max_label_sets_(max_label_sets),
        dropped_(dropped) {
    if (labels_.empty()) live_.emplace(std::vector<std::string>{}, make_());
  }

  T& WithLabels(const std::vector<std::string>& values) override {
    CheckArity(values);
    std::lock_guard lock(mu_);
    if (auto it = live_.find(values); it != live_.end()) return *it->second;
    if (dropped_ && live_.size() - (overflow_ ? 1 : 0) >= max_label_sets_) return Overflow();
    // A removed child comes back (references to it stayed valid and may have kept counting).
    if (auto node = removed_.extract(values); !node.empty()) {
      return *live_.insert(std::move(node)).position->second;
    }
    return *live_.emplace(values, make_()).first->second;
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return live_.size();
  }

  void SetMaxLabelSets(size_t max) override {
    std::lock_guard lock(mu_);
    max_label_sets_ = std::max<size_t>(1, max);
  }

  void Remove(const std::vector<std::string>& values) override {
    CheckArity(values);
    std::lock_guard lock(mu_);
    if (auto node = live_.extract(values); !node.empty()) {
      if (node.mapped().get() == overflow_) overflow_ = nullptr;
      removed_.insert(std::move(node));
    }
  }

 private:
  // The child every label set beyond the bound shares; counted in the dropped-sets counter.
  T& Overflow() {
    if (!dropped_counter_) dropped_counter_ = &dropped_->WithLabels({name_});
    dropped_counter_->Increment();
    if (!overflow_) {
      std::vector<std::string> other(labels_.size(), std::string(kOverflowLabelValue));
      auto it = live_.find(other);
      if (it == live_.end()) {
        auto node = removed_.extract(other);
        it = node.empty() ? live_.emplace(std::move(other), make_()).first
                          : live_.insert(std::move(node)).position;
      }
      overflow_ = it->second.get();
    }
    return *overflow_;
  }

  void CheckArity(const std::vector<std::string>& values) const {
    if (values.size() != labels_.size()) {
      throw std::invalid_argument("metric " + name_ + ": expected " + std::to_string(labels_.size()) +
                                  " label values, got " + std::to_string(values.size()));
    }
  }

  void RenderSamples(std::string& out) const override {
    // Children are never destroyed while the family lives, so the pointers stay valid after
    // the lock is released; values are read from the atomics without holding it.
    std::vector<std::pair<std::vector<std::string>, const T*>> children;
    {
      std::lock_guard lock(mu_);
      children.reserve(live_.size());
      for (const auto& [values, child] : live_) children.emplace_back(values, child.get());
    }
    for (const auto& [values, child] : children) RenderChild(out, name_, labels_, values, *child);
  }

  using Children = std::map<std::vector<std::string>, std::unique_ptr<T>>;  // sorted by values
  const std::vector<std::string> labels_;
  const Factory make_;
  mutable std::mutex mu_;
  size_t max_label_sets_;
  Family<Counter>* const dropped_;
  Counter* dropped_counter_ = nullptr;
  T* overflow_ = nullptr;  // the overflow child, once made (it stays live: never Removed by name)
  Children live_;
  Children removed_;
};

class CallbackFamily final : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, std::string_view type, std::function<double()> fn)
      : FamilyBase(std::move(name), std::move(help), type), fn_(std::move(fn)) {}

 private:
  void RenderSamples(std::string& out) const override {
    out += name_;
    out += ' ';
    AppendDouble(out, fn_());
    out += '\n';
  }

  const std::function<double()> fn_;
};

class LabelledCallbackFamily final : public FamilyBase {
 public:
  LabelledCallbackFamily(std::string name, std::string help, std::string_view type,
                         std::vector<std::string> labels, std::function<std::vector<Registry::Sample>()> fn)
      : FamilyBase(std::move(name), std::move(help), type), labels_(std::move(labels)), fn_(std::move(fn)) {}

 private:
  void RenderSamples(std::string& out) const override {
    for (const Registry::Sample& s : fn_()) {
      if (s.label_values.size() != labels_.size()) continue;  // a broken sample is left out
      AppendSampleStart(out, name_, "", labels_, s.label_values);
      AppendDouble(out, s.value);
      out += '\n';
    }
  }

  const std::vector<std::string> labels_;
  const std::function<std::vector<Registry::Sample>()> fn_;
};

}  // namespace

// --- Metric types -------------------------------------------------------------------------------

void Gauge::Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  if (!bounds_.empty() && bounds_.back() == INFINITY) bounds_.pop_back();  // implicit anyway
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (std::isnan(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      throw std::invalid_argument("histogram bounds must be strictly increasing");
    }
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::Observe(double v) {
  // Bucket i counts bounds_[i-1] < v <= bounds_[i]; NaN and values above every bound go to +Inf.
  const size_t i =
      std::isnan(v)
          ? bounds_.size()
          : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  s.cumulative_counts.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative_counts.push_back(total);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The count is taken from the buckets so that it always equals the +Inf bucket, even while
  // other threads observe (count_ may run ahead of the bucket loads above).
  s.count = total;
  return s;
}

// --- Registry -----------------------------------------------------------------------------------

struct Registry::Impl {
  explicit Impl(RegistryOptions o)
      : options(o),
        dropped(
            std::string(kDroppedLabelSetsMetric),
            "Label sets folded into a family's overflow series (label values \"__other__\") because the "
            "family reached its bound on label sets",
            "counter", {"metric"}, [] { return std::make_unique<Counter>(); }, 0, nullptr) {
    options.max_label_sets = std::max<size_t>(1, options.max_label_sets);
    sample_names.insert(std::string(kDroppedLabelSetsMetric));
  }

  RegistryOptions options;
  mutable std::mutex mu;
  std::vector<std::unique_ptr<FamilyBase>> families;  // registration order
  std::unordered_set<std::string> sample_names;       // every name a family can expose
  // Labelled by family name (bounded by the families registered), so it needs no bound itself;
  // rendered last, and only once a label set has been folded.
  FamilyImpl<Counter> dropped;

  // A labelled family of metrics made with no arguments (counters, gauges).
  template <typename M>
  Family<M>& AddPlain(std::string name, std::string help, std::string_view type,
                      std::vector<std::string> labels) {
    ValidateLabelNames(name, labels, /*histogram=*/false);
    auto family = std::make_unique<FamilyImpl<M>>(
        name, std::move(help), type, std::move(labels), [] { return std::make_unique<M>(); },
        options.max_label_sets, &dropped);
    return Add(std::move(family), name, /*histogram=*/false);
  }

  template <typename F>
  F& Add(std::unique_ptr<F> family, const std::string& name, bool histogram) {
    if (!IsValidName(name, /*allow_colon=*/true)) {
      throw std::invalid_argument("invalid metric name '" + name + "'");
    }
    std::vector<std::string> names{name};
    if (histogram) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.push_back(name + suffix);
    }
    std::lock_guard lock(mu);
    for (const std::string& n : names) {
      if (sample_names.contains(n)) {
        throw std::invalid_argument("metric name '" + n + "' is already registered");
      }
    }
    sample_names.insert(names.begin(), names.end());
    F& ref = *family;
    families.push_back(std::move(family));
    return ref;
  }
};

Registry::Registry(RegistryOptions options) : impl_(std::make_unique<Impl>(options)) {}
Registry::~Registry() = default;

Family<Counter>& Registry::AddCounter(std::string name, std::string help, std::vector<std::string> labels) {
  return impl_->AddPlain<Counter>(std::move(name), std::move(help), "counter", std::move(labels));
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help, std::vector<std::string> labels) {
  return impl_->AddPlain<Gauge>(std::move(name), std::move(help), "gauge", std::move(labels));
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help, std::vector<std::string> labels,
                                          std::vector<double> bounds) {
  ValidateLabelNames(name, labels, /*histogram=*/true);
  Histogram check(bounds);  // throws on bad bounds now rather than at the first WithLabels
  auto family = std::make_unique<FamilyImpl<Histogram>>(
      name, std::move(help), "histogram", std::move(labels),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); },
      impl_->options.max_label_sets, &impl_->dropped);
  return impl_->Add(std::move(family), name, /*histogram=*/true);
}

void Registry::AddCallbackGauge(std::string name, std::string help, std::function<double()> fn) {
  auto family = std::make_unique<CallbackFamily>(name, std::move(help), "gauge", std::move(fn));
  impl_->Add(std::move(family), name, /*histogram=*/false);
}

void Registry::AddCallbackCounter(std::string name, std::string help, std::function<double()> fn) {
  auto family = std::make_unique<CallbackFamily>(name, std::move(help), "counter", std::move(fn));
  impl_->Add(std::move(family), name, /*histogram=*/false);
}

void Registry::AddCallbackFamily(const std::string& name, std::string help, bool counter,
                                 std::vector<std::string> labels, std::function<std::vector<Sample>()> fn) {
  ValidateLabelNames(name, labels, /*histogram=*/false);
  auto family = std::make_unique<LabelledCallbackFamily>(name, std::move(help), counter ? "counter" : "gauge",
                                                         std::move(labels), std::move(fn));
  impl_->Add(std::move(family), name, /*histogram=*/false);
}

std::string Registry::Render() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard lock(impl_->mu);
    families.reserve(impl_->families.size());
    for (const auto& f : impl_->families) families.push_back(f.get());
  }
  std::string out;
  for (const FamilyBase* f : families) f->Render(out);  // families are never removed
  if (impl_->dropped.size() > 0) impl_->dropped.Render(out);
  return out;
}

std::vector<double> DefaultLatencyBucketsSeconds() {
  return {50e-6,  100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
          100e-3, 250e-3, 500e-3, 1,      2.5,  5,      10,   30,    60};
}

// --- Process metrics ----------------------------------------------------------------------------

namespace {

// Field 0 (size) or 1 (resident) of /proc/self/statm, in bytes; NaN when unreadable.
double StatmBytes(int field) {
  std::ifstream in("/proc/self/statm");
  double pages[2] = {-1, -1};
  if (!(in >> pages[0] >> pages[1])) return NAN;
  return pages[field] * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return NAN;
  const std::string own = std::to_string(dirfd(dir));
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != ".." && name != own) ++n;
  }
  closedir(dir);
  return n;
}

double MaxFds() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return NAN;
  return rl.rlim_cur == RLIM_INFINITY ? INFINITY : static_cast<double>(rl.rlim_cur);
}

double CpuSeconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// Seconds since the epoch at which this process started: boot time (btime in /proc/stat) plus
// the start time in clock ticks (field 22 of /proc/self/stat). NaN when /proc lacks either.
double StartTimeSeconds() {
  std::ifstream stat_file("/proc/self/stat");
  const std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
  const size_t paren = stat.rfind(')');  // the command name (field 2) may contain spaces
  if (paren == std::string::npos) return NAN;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
  }
  double start_ticks = 0;
  if (!fields || !(std::istringstream(field) >> start_ticks)) return NAN;

  std::ifstream proc_stat("/proc/stat");
  std::string key;
  double btime = NAN;
  while (proc_stat >> key) {
    if (key == "btime") {
      proc_stat >> btime;
      break;
    }
    proc_stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return btime + start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

void RegisterProcessMetrics(Registry& registry) {
  registry.AddCallbackCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                              CpuSeconds);
  registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.", OpenFds);
  registry.AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.", MaxFds);
  registry.AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            [] { return StatmBytes(0); });
  registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                            [] { return StatmBytes(1); });
  const double start = StartTimeSeconds();
  registry.AddCallbackGauge("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            [start] { return start; });
}

}  // namespace continuum::telemetry
