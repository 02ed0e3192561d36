#include "common/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace continuum {
namespace {

TEST(JsonWriter, WritesNestedValues) {
  std::string s;
  JsonWriter w(&s);
  w.BeginObject().Key("a").Int(-3).Key("b").BeginArray().Float(1.5f).Double(NAN).Bool(true).Null();
  w.EndArray().Key("c").String("q\"\\\n\x01").Key("d").Raw("{\"x\":1}").EndObject();
  EXPECT_EQ(s, R"({"a":-3,"b":[1.5,null,true,null],"c":"q\"\\\n\u0001","d":{"x":1}})");
}

}  // namespace
}  // namespace continuum
