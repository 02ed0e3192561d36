#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "fleet/rollout/rollout.h"

namespace continuum::fleet {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The examples follow Prometheus's documented histogram_quantile: linear interpolation inside the
// bucket, the lowest bucket starting at 0, a quantile in the +Inf bucket giving the highest finite
// bound.
const Buckets kLatency = {{0.1, 50}, {0.2, 80}, {0.5, 95}, {1, 100}, {kInf, 100}};

TEST(HistogramQuantileTest, InterpolatesInsideTheBucket) {
  EXPECT_DOUBLE_EQ(HistogramQuantile(kLatency, 0.5), 0.1);
  EXPECT_DOUBLE_EQ(HistogramQuantile(kLatency, 0.25), 0.05);  // the lowest bucket starts at 0
  EXPECT_DOUBLE_EQ(HistogramQuantile(kLatency, 0.65), 0.15);
  EXPECT_DOUBLE_EQ(HistogramQuantile(kLatency, 0.9), 0.2 + 0.3 * (10.0 / 15.0));
  EXPECT_DOUBLE_EQ(HistogramQuantile(kLatency, 0.99), 0.5 + 0.5 * (4.0 / 5.0));
  EXPECT_DOUBLE_EQ(HistogramQuantile(kLatency, 1), 1);
}

TEST(HistogramQuantileTest, TheInfBucketGivesTheHighestFiniteBound) {
  Buckets b = {{0.1, 50}, {1, 100}, {kInf, 200}};
  EXPECT_DOUBLE_EQ(HistogramQuantile(b, 0.95), 1);
  EXPECT_DOUBLE_EQ(HistogramQuantile(b, 0.5), 1);
  EXPECT_DOUBLE_EQ(HistogramQuantile(b, 0.25), 0.1);
}

TEST(HistogramQuantileTest, ANonPositiveLowestBoundIsReturnedAsIs) {
  Buckets b = {{-1, 10}, {1, 20}, {kInf, 20}};
  EXPECT_DOUBLE_EQ(HistogramQuantile(b, 0.25), -1);
  EXPECT_DOUBLE_EQ(HistogramQuantile(b, 0.75), 0);  // -1 + 2 * 5/10
}

TEST(HistogramQuantileTest, OutOfRangeAndEmpty) {
  EXPECT_EQ(HistogramQuantile(kLatency, -0.1), -kInf);
  EXPECT_EQ(HistogramQuantile(kLatency, 1.1), kInf);
  EXPECT_TRUE(std::isnan(HistogramQuantile(kLatency, std::nan(""))));
  EXPECT_TRUE(std::isnan(HistogramQuantile({}, 0.5)));
  EXPECT_TRUE(std::isnan(HistogramQuantile({{kInf, 10}}, 0.5)));           // one bucket
  EXPECT_TRUE(std::isnan(HistogramQuantile({{0.1, 0}, {kInf, 0}}, 0.5)));  // no observations
  EXPECT_TRUE(std::isnan(HistogramQuantile({{0.1, 5}, {0.2, 10}}, 0.5)));  // no +Inf bucket
}

TEST(HistogramQuantileTest, UnsortedAndNonMonotonicBucketsAreRepaired) {
  Buckets unsorted = {{kInf, 100}, {0.2, 80}, {1, 100}, {0.1, 50}, {0.5, 95}};
  EXPECT_DOUBLE_EQ(HistogramQuantile(unsorted, 0.9), HistogramQuantile(kLatency, 0.9));
  Buckets dip = {{0.1, 50}, {0.2, 40}, {kInf, 100}};  // read as 50, 50, 100
  EXPECT_DOUBLE_EQ(HistogramQuantile(dip, 0.5), 0.1);
  EXPECT_DOUBLE_EQ(HistogramQuantile(dip, 0.9), 0.2);
}

TEST(BucketsTest, AddsSameBoundsCountByCount) {
  Buckets a = {{0.1, 1}, {1, 3}, {kInf, 4}};
  Buckets b = {{0.1, 10}, {1, 30}, {kInf, 40}};
  EXPECT_EQ(AddBuckets(a, b), (Buckets{{0.1, 11}, {1, 33}, {kInf, 44}}));
  EXPECT_EQ(AddBuckets({}, b), b);
  EXPECT_EQ(AddBuckets(a, {}), a);
}

TEST(BucketsTest, AddsOtherBoundsOverTheirUnion) {
  Buckets a = {{0.1, 1}, {1, 3}, {kInf, 4}};
  Buckets b = {{0.5, 10}, {kInf, 20}};
  EXPECT_EQ(AddBuckets(a, b), (Buckets{{0.1, 1}, {0.5, 11}, {1, 13}, {kInf, 24}}));
}

TEST(BucketsTest, SubtractsCountersAndTakesAResetAsIs) {
  Buckets then = {{0.1, 1}, {1, 3}, {kInf, 4}};
  Buckets now = {{0.1, 5}, {1, 9}, {kInf, 12}};
  EXPECT_EQ(SubtractBuckets(now, then), (Buckets{{0.1, 4}, {1, 6}, {kInf, 8}}));
  Buckets reset = {{0.1, 0}, {1, 2}, {kInf, 2}};
  EXPECT_EQ(SubtractBuckets(reset, then), reset);
  Buckets other = {{0.5, 7}, {kInf, 9}};
  EXPECT_EQ(SubtractBuckets(other, then), other);
  EXPECT_EQ(SubtractBuckets(now, {}), now);
}

}  // namespace
}  // namespace continuum::fleet
