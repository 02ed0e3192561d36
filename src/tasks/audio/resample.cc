#include "tasks/audio/resample.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <numeric>

namespace continuum::tasks::audio {
namespace {

constexpr int64_t kMaxTableFloats = 1 << 20;  // 4 MB

// Modified Bessel function of the first kind, order 0 (power series).
double BesselI0(double x) {
  double sum = 1, term = 1;
  const double q = x * x / 4;
  for (int k = 1; k < 200; ++k) {
    term *= q / (static_cast<double>(k) * k);
    sum += term;
    if (term < sum * 1e-16) break;
  }
  return sum;
}

// Dot product with eight independent accumulators (vectorises without -ffast-math).
inline float Dot(const float* a, const float* b, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int j = 0; j < n; j += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[j + l] * b[j + l];
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

}  // namespace

Resampler::Resampler(int from_rate, int to_rate) : from_(from_rate), to_(to_rate) {
  const int64_t g = std::gcd(static_cast<int64_t>(from_rate), static_cast<int64_t>(to_rate));
  up_ = to_rate / g;
  down_ = from_rate / g;
  // Cutoff in cycles per input sample, and the kernel's half width in input samples.
  const double fc = kRolloff * 0.5 * std::min(1.0, static_cast<double>(to_rate) / from_rate);
  const double width = kZeroCrossings / (2 * fc);
  half_ = static_cast<int>(std::ceil(width));
  taps_ = (2 * half_ + 7) / 8 * 8;
  if (up_ * taps_ <= kMaxTableFloats) {
    phases_ = static_cast<int>(up_);
  } else {
    phases_ = static_cast<int>(std::max<int64_t>(16, kMaxTableFloats / taps_));
    exact_ = false;
  }
  const double i0_beta = BesselI0(kKaiserBeta);
  table_.assign(static_cast<size_t>(phases_ + 1) * taps_, 0.0f);
  std::vector<double> row(taps_);
  for (int p = 0; p <= phases_; ++p) {
    const double phi = static_cast<double>(p) / phases_;
    double sum = 0;
    for (int j = 0; j < taps_; ++j) {
      // Tap j reads input sample i - half + 1 + j for an output at input time i + phi.
      const double t = phi + half_ - 1 - j;
      double h = 0;
      if (std::abs(t) < width) {
        const double x = 2 * fc * t;
        const double sinc = x == 0 ? 1.0 : std::sin(std::numbers::pi * x) / (std::numbers::pi * x);
        const double r = t / width;
        h = 2 * fc * sinc * BesselI0(kKaiserBeta * std::sqrt(std::max(0.0, 1 - r * r))) / i0_beta;
      }
      row[j] = h;
      sum += h;
    }
    for (int j = 0; j < taps_; ++j)
      table_[static_cast<size_t>(p) * taps_ + j] = static_cast<float>(row[j] / sum);
  }
}

int64_t Resampler::OutputLength(int64_t n) const { return n <= 0 ? 0 : (n * up_ + down_ - 1) / down_; }

void Resampler::Process(std::span<const float> in, std::vector<float>* out) const {
  const int64_t n_in = static_cast<int64_t>(in.size());
  const int64_t n_out = OutputLength(n_in);
  out->resize(static_cast<size_t>(n_out));
  if (n_out == 0) return;
  // Output k at input time i + r / up_ reads in[i - half_ + 1 .. i - half_ + taps_]; near the
  // edges those reads go through a zero-padded scratch copy (the signal is zero outside).
  std::vector<float> scratch(static_cast<size_t>(taps_));
  const int64_t step_int = down_ / up_, step_rem = down_ % up_;
  int64_t i = 0, r = 0;  // input index and phase numerator
  float* y = out->data();
  for (int64_t k = 0; k < n_out; ++k) {
    const int64_t lo = i - half_ + 1;
    const float* x = scratch.data();
    if (lo >= 0 && lo + taps_ <= n_in) {
      x = in.data() + lo;
    } else {
      for (int j = 0; j < taps_; ++j) scratch[j] = (lo + j >= 0 && lo + j < n_in) ? in[lo + j] : 0.0f;
    }
    if (exact_) {
      y[k] = Dot(&table_[static_cast<size_t>(r) * taps_], x, taps_);
    } else {
      const double pos = static_cast<double>(r) * phases_ / static_cast<double>(up_);
      const int row = static_cast<int>(pos);
      const float a = static_cast<float>(pos - row);
      const float* c0 = &table_[static_cast<size_t>(row) * taps_];
      const float y0 = Dot(c0, x, taps_);
      const float y1 = Dot(c0 + taps_, x, taps_);
      y[k] = y0 + a * (y1 - y0);
    }
    i += step_int;
    r += step_rem;
    if (r >= up_) {
      r -= up_;
      ++i;
    }
  }
}

std::shared_ptr<const Resampler> Resampler::Get(int from_rate, int to_rate) {
  static std::mutex mu;
  static std::map<std::pair<int, int>, std::shared_ptr<const Resampler>> cache;
  {
    std::lock_guard lock(mu);
    auto it = cache.find({from_rate, to_rate});
    if (it != cache.end()) return it->second;
  }
  auto r = std::make_shared<const Resampler>(from_rate, to_rate);  // designed outside the lock
  std::lock_guard lock(mu);
  if (cache.size() >= 16) cache.clear();
  cache.emplace(std::make_pair(from_rate, to_rate), r);
  return r;
}

std::vector<float> Resample(std::span<const float> in, int from_rate, int to_rate) {
  if (from_rate == to_rate) return std::vector<float>(in.begin(), in.end());
  std::vector<float> out;
  Resampler::Get(from_rate, to_rate)->Process(in, &out);
  return out;
}

}  // namespace continuum::tasks::audio
