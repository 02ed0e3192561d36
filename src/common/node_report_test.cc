#include "common/node_report.h"

#include <gtest/gtest.h>

#include <cmath>

namespace continuum {
namespace {

TEST(NodeReport, ParsesWhatAddNodeReportWrites) {
  std::vector<std::pair<std::string, std::string>> headers;
  AddNodeReport(&headers, std::chrono::microseconds(12'345), 7, std::chrono::microseconds(2'500), 0.5);
  ASSERT_EQ(headers.size(), 4u);
  EXPECT_EQ(ParseNodeReportValue(headers[0].second), 12.345);
  EXPECT_EQ(ParseNodeReportValue(headers[1].second), 2.5);
  EXPECT_EQ(ParseNodeReportValue(headers[2].second), 1.25);
  EXPECT_EQ(ParseNodeReportValue(headers[3].second), 7);
}

TEST(NodeReport, OnlyAWholeFiniteNonNegativeNumberCounts) {
  EXPECT_EQ(ParseNodeReportValue("0"), 0.0);
  EXPECT_EQ(ParseNodeReportValue("1e3"), 1000.0);
  auto zero = ParseNodeReportValue("-0");
  ASSERT_TRUE(zero.has_value());
  EXPECT_FALSE(std::signbit(*zero));
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "1ms", "inf", "nan", "-inf", "1e999", "0x10", "1,5"}) {
    EXPECT_EQ(ParseNodeReportValue(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace continuum
