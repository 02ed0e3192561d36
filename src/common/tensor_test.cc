#include "common/tensor.h"

#include <gtest/gtest.h>

#include <cmath>

namespace continuum {
namespace {

TEST(DataType, NamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(DataType::kBytes); ++i) {
    auto t = static_cast<DataType>(i);
    auto parsed = ParseDataType(DataTypeName(t));
    ASSERT_TRUE(parsed.has_value()) << DataTypeName(t);
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(ParseDataType("FLOAT32").has_value());
  EXPECT_EQ(ElementSize(DataType::kFp16), 2u);
  EXPECT_EQ(ElementSize(DataType::kBytes), 0u);
}

TEST(ElementCount, DetectsOverflowAndNegatives) {
  EXPECT_EQ(*ElementCount(std::vector<int64_t>{2, 3, 4}), 24);
  EXPECT_EQ(*ElementCount(std::vector<int64_t>{}), 1);
  EXPECT_EQ(*ElementCount(std::vector<int64_t>{0, 5}), 0);
  EXPECT_FALSE(ElementCount(std::vector<int64_t>{-1, 3}).ok());
  EXPECT_FALSE(ElementCount(std::vector<int64_t>{1LL << 40, 1LL << 40}).ok());
  EXPECT_FALSE(ElementCount(std::vector<int64_t>{10, 10}, 99).ok());
}

TEST(Tensor, ValidateChecksByteLength) {
  Tensor t{"x", DataType::kFp32, {2, 2}, std::string(16, '\0')};
  EXPECT_TRUE(t.Validate().ok());
  t.data.resize(12);
  Status s = t.Validate();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("needs 16"), std::string::npos) << s.message();
}

TEST(Tensor, BytesFraming) {
  std::string data;
  AppendBytesElement(data, "ab");
  AppendBytesElement(data, "");
  AppendBytesElement(data, "xyz");
  auto parts = SplitBytesElements(data, 3);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ((*parts)[0], "ab");
  EXPECT_EQ((*parts)[1], "");
  EXPECT_EQ((*parts)[2], "xyz");
  EXPECT_FALSE(SplitBytesElements(data, 2).ok());
  EXPECT_FALSE(SplitBytesElements(data, 4).ok());
  EXPECT_FALSE(SplitBytesElements(data.substr(0, data.size() - 1), 3).ok());
  EXPECT_FALSE(SplitBytesElements(std::string("\x01\x00", 2), -1).ok());
}

TEST(HalfFloat, RoundTripsAndRounds) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 0.333251953125f, 6.103515625e-05f, 5.9604644775390625e-08f}) {
    EXPECT_FLOAT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(1e6f), 0x7c00);  // overflow to +inf
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_FLOAT_EQ(Bf16ToFloat(FloatToBf16(3.140625f)), 3.140625f);
}

}  // namespace
}  // namespace continuum
