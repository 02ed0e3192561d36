#include "common/enum_names.h"

#include <gtest/gtest.h>

namespace continuum {
namespace {

enum class Fruit { kApple, kPear, kPlum, kQuince };

constexpr EnumName<Fruit> kFruitNames[] = {
    {Fruit::kApple, "apple"}, {Fruit::kPear, "pear"}, {Fruit::kPlum, "plum"}};

TEST(EnumNames, NamesAndValuesBothWays) {
  EXPECT_EQ(NameOf(kFruitNames, Fruit::kPear), "pear");
  EXPECT_EQ(NameOf(kFruitNames, Fruit::kQuince), "?");
  EXPECT_EQ(NameOf(kFruitNames, Fruit::kQuince, "apple"), "apple");
  EXPECT_EQ(ValueOf(kFruitNames, "plum"), Fruit::kPlum);
  EXPECT_EQ(ValueOf(kFruitNames, "Plum"), std::nullopt);
  EXPECT_EQ(ValueOf(kFruitNames, "quince"), std::nullopt);
  static_assert(NameOf(kFruitNames, Fruit::kApple) == "apple");
  static_assert(*ValueOf(kFruitNames, "pear") == Fruit::kPear);
}

TEST(EnumNames, ListsTheNamesInTableOrder) {
  EXPECT_EQ(NameList(kFruitNames), "apple, pear or plum");
  EXPECT_EQ(NameList(kFruitNames, ", ", ", "), "apple, pear, plum");
  constexpr EnumName<Fruit> kOne[] = {{Fruit::kPear, "pear"}};
  EXPECT_EQ(NameList(kOne), "pear");
}

}  // namespace
}  // namespace continuum
