// Cumulative histograms as Prometheus keeps them: the quantile estimate of histogram_quantile
// (promql/quantile.go, bucketQuantile) and the sums and counter deltas the rollout engine needs.
#include <algorithm>
#include <cmath>
#include <limits>

#include "fleet/rollout/rollout.h"

namespace continuum::fleet {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The cumulative count of `b` at `bound`: the count of the highest bound <= `bound`.
double CumulativeAt(const Buckets& b, double bound) {
  double count = 0;
  for (const auto& [upper, c] : b) {
    if (upper > bound) break;
    count = c;
  }
  return count;
}

bool SameBounds(const Buckets& a, const Buckets& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) return false;
  }
  return true;
}

}  // namespace

double HistogramQuantile(const Buckets& in, double q) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  Buckets b;
  b.reserve(in.size());
  for (const auto& [upper, count] : in) {
    if (std::isnan(upper) || std::isnan(count)) return kNaN;
    b.emplace_back(upper, count);
  }
  std::stable_sort(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  if (b.empty() || !std::isinf(b.back().first) || b.back().first < 0) return kNaN;
  // Buckets with the same bound are one bucket (their counts added), as Prometheus coalesces.
  Buckets merged;
  for (const auto& e : b) {
    if (!merged.empty() && merged.back().first == e.first) {
      merged.back().second += e.second;
    } else {
      merged.push_back(e);
    }
  }
  if (merged.size() < 2) return kNaN;
  for (size_t i = 1; i < merged.size(); ++i)
    merged[i].second = std::max(merged[i].second, merged[i - 1].second);
  double observations = merged.back().second;
  if (!(observations > 0)) return kNaN;
  double rank = q * observations;
  size_t i = 0;  // the first bucket whose count reaches the rank, among all but +Inf
  while (i + 1 < merged.size() && merged[i].second < rank) ++i;
  if (i + 1 == merged.size()) return merged[merged.size() - 2].first;
  if (i == 0 && merged[0].first <= 0) return merged[0].first;
  double start = 0, end = merged[i].first, count = merged[i].second;
  if (i > 0) {
    start = merged[i - 1].first;
    count -= merged[i - 1].second;
    rank -= merged[i - 1].second;
  }
  if (!(count > 0)) return end;
  return start + (end - start) * (rank / count);
}

Buckets AddBuckets(const Buckets& a, const Buckets& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  Buckets out;
  if (SameBounds(a, b)) {
    out = a;
    for (size_t i = 0; i < a.size(); ++i) out[i].second += b[i].second;
    return out;
  }
  std::vector<double> bounds;
  bounds.reserve(a.size() + b.size());
  for (const auto& e : a) bounds.push_back(e.first);
  for (const auto& e : b) bounds.push_back(e.first);
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  out.reserve(bounds.size());
  for (double bound : bounds) out.emplace_back(bound, CumulativeAt(a, bound) + CumulativeAt(b, bound));
  return out;
}

Buckets SubtractBuckets(const Buckets& now, const Buckets& then) {
  if (then.empty() || !SameBounds(now, then)) return now;
  Buckets out = now;
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i].second < then[i].second) return now;  // the counters were reset
    out[i].second -= then[i].second;
  }
  return out;
}

}  // namespace continuum::fleet
