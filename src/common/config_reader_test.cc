#include "common/config_reader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

namespace continuum::config {
namespace {

// The message of a failed StatusOr, or "ok".
template <typename T>
std::string Msg(const StatusOr<T>& s) {
  return s.ok() ? "ok" : s.status().message();
}
std::string Msg(const Status& s) { return s.ok() ? "ok" : s.message(); }

TEST(ConfigReader, PathsJoinKeysAndIndexes) {
  EXPECT_EQ(Key("", "a"), "a");
  EXPECT_EQ(Key("a", "b"), "a.b");
  EXPECT_EQ(Index("a.b", 2), "a.b[2]");
  EXPECT_EQ(Key(Index(Key("a", "b"), 2), "c"), "a.b[2].c");
}

TEST(ConfigReader, ParseNamesTheDocument) {
  Reader r("topology: ");
  EXPECT_EQ(Msg(r.Parse("{")).rfind("topology: not valid JSON: ", 0), 0u) << Msg(r.Parse("{"));
  Object o;
  EXPECT_EQ(Msg(r.Parse("[1]", &o)), "topology: expected an object");
  ASSERT_TRUE(r.Parse(R"({"a": 1})", &o).ok());
  EXPECT_TRUE(Find(o, "a").has_value());
  EXPECT_FALSE(Find(o, "b").has_value());
}

TEST(ConfigReader, ParseBoundsTheDepth) {
  Reader shallow("config.json: ", 4);
  EXPECT_FALSE(shallow.Parse(R"({"a":{"b":{"c":{"d":{"e":1}}}}})").ok());
  EXPECT_TRUE(shallow.Parse(R"({"a":{"b":1}})").ok());
  // A later, larger document still parses with the same bound.
  EXPECT_TRUE(shallow.Parse(R"({"a":{"b":1}, "padding": ")" + std::string(4096, 'x') + "\"}").ok());
}

TEST(ConfigReader, ErrorsNameThePath) {
  Reader r("settings.");
  EXPECT_EQ(Msg(r.Err("a.b[2].c", "bad")), "settings.a.b[2].c: bad");
  EXPECT_EQ(Msg(r.Err("", "bad")), "settings: bad");
  Reader plain("");
  EXPECT_EQ(Msg(plain.Err("", "bad")), "bad");
  EXPECT_EQ(Msg(plain.Err("a", "bad")), "a: bad");
  Object o;
  EXPECT_EQ(Msg(r.Parse("7", &o)), "settings: expected an object");
  EXPECT_EQ(r.Err("x", "y").code(), StatusCode::kInvalidArgument);
}

TEST(ConfigReader, CheckKeysRefusesUnknownFieldsAndListsTheKnown) {
  Reader r("cfg: ");
  Object o;
  ASSERT_TRUE(r.Parse(R"({"nodes": [{"name": "a", "colour": 1}]})", &o).ok());
  EXPECT_TRUE(r.CheckKeys(o, "", {"nodes", "links"}).ok());
  EXPECT_EQ(Msg(r.CheckKeys(o, "", {"links"})), "cfg: nodes: unknown field (known: links)");
  auto nodes = r.Array(*Find(o, "nodes"), "nodes");
  ASSERT_TRUE(nodes.ok());
  auto node = r.Object((*nodes).at(0).value(), Index("nodes", 0));
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(Msg(r.CheckKeys(*node, Index("nodes", 0), {"name", "url"})),
            "cfg: nodes[0].colour: unknown field (known: name, url)");
  EXPECT_EQ(Msg(r.CheckKeys(*node, "x", {})), "cfg: x.name: unknown field (known: )");
}

TEST(ConfigReader, ParseObjectRefusesWhatIsNotAnObjectOfKnownFields) {
  Reader r("settings.");
  auto o = r.ParseObject(R"({"a": 1, "b": 2})", {"a", "b", "c"});
  ASSERT_TRUE(o.ok()) << Msg(o);
  EXPECT_TRUE(Find(*o, "b").has_value());
  EXPECT_EQ(Msg(r.ParseObject(R"({"a": 1, "d": 2})", {"a", "b"})), "settings.d: unknown field (known: a, b)");
  EXPECT_EQ(Msg(r.ParseObject("[]", {"a"})), "settings: expected an object");
  EXPECT_EQ(Msg(r.ParseObject("{", {"a"})).rfind("settings: not valid JSON: ", 0), 0u)
      << Msg(r.ParseObject("{", {}));
}

TEST(ConfigReader, DocumentWordsKeepAFormatsOwnMessages) {
  Reader r("topology: ", {.not_json = "invalid JSON", .top_level = "(top level)"});
  EXPECT_EQ(Msg(r.ParseObject("{", {"a"})).rfind("topology: invalid JSON: ", 0), 0u)
      << Msg(r.ParseObject("{", {}));
  EXPECT_EQ(Msg(r.ParseObject("[]", {"a"})), "topology: (top level): expected an object");
  EXPECT_EQ(Msg(r.ParseObject(R"({"b": 1})", {"a"})), "topology: b: unknown field (known: a)");
  EXPECT_EQ(r.ParseObject("[]", {"a"}).status().code(), StatusCode::kInvalidArgument);

  Reader params("parameters.", {.not_json = "invalid JSON"});
  Object o;
  EXPECT_EQ(Msg(params.Parse("[1]", &o)), "parameters: expected an object");
  EXPECT_EQ(Msg(params.Parse("{", &o)).rfind("parameters: invalid JSON: ", 0), 0u)
      << Msg(params.Parse("{", &o));

  Reader lib("config: ", {.not_object = "must be a JSON object"});
  EXPECT_EQ(Msg(lib.Parse("7", &o)), "config: must be a JSON object");
  EXPECT_EQ(Msg(lib.Parse("not json", &o)).rfind("config: not valid JSON: ", 0), 0u);
  // The words leave the depth bound as it was.
  Reader shallow("cfg: ", 4, {.not_json = "invalid JSON"});
  EXPECT_EQ(Msg(shallow.Parse(R"({"a":{"b":{"c":{"d":{"e":1}}}}})", &o)).rfind("cfg: invalid JSON: ", 0), 0u);
  EXPECT_TRUE(shallow.Parse(R"({"a":{"b":1}})", &o).ok());
}

TEST(ConfigReader, RequiredNamesTheMissingField) {
  Reader r("cfg: ");
  Object o;
  ASSERT_TRUE(r.Parse(R"({"a": 1})", &o).ok());
  EXPECT_TRUE(r.Required(o, "top", "a").ok());
  EXPECT_EQ(Msg(r.Required(o, "top", "b")), "cfg: top.b: required");
  EXPECT_EQ(Msg(r.Required(o, "", "b")), "cfg: b: required");
}

TEST(ConfigReader, TypedGettersCheckTypeAndRange) {
  Reader r("p: ");
  Object o;
  ASSERT_TRUE(r.Parse(
                   R"({"i": 5, "big": 18446744073709551615, "d": 2.5, "b": true, "s": "x", "e": "",
                       "l": ["a", "b"], "bad": ["a", ""], "o": {}, "a": []})",
                   &o)
                  .ok());
  auto at = [&](const char* k) { return *Find(o, k); };
  EXPECT_EQ(*r.Int(at("i"), "i", 1, 10), 5);
  EXPECT_EQ(Msg(r.Int(at("i"), "i", 6, 10)), "p: i: must be between 6 and 10");
  EXPECT_EQ(Msg(r.Int(at("d"), "d", 0, 10)), "p: d: expected an integer");
  EXPECT_EQ(Msg(r.Int(at("big"), "big", 0, 10)), "p: big: expected an integer");
  EXPECT_EQ(*r.Double(at("d"), "d", 0, 3), 2.5);
  EXPECT_EQ(*r.Double(at("i"), "i", 0, 10), 5.0);  // integers are numbers
  EXPECT_EQ(*r.Double(at("big"), "big", 0, 1e20), 18446744073709551615.0);
  EXPECT_EQ(Msg(r.Double(at("d"), "d", 0, 1)), "p: d: must be between 0 and 1");
  EXPECT_EQ(Msg(r.Double(at("d"), "d", 3, std::numeric_limits<double>::infinity())),
            "p: d: must be a finite number >= 3");
  EXPECT_EQ(Msg(r.Double(at("s"), "s", 0, 1)), "p: s: expected a number");
  EXPECT_EQ(*r.Bool(at("b"), "b"), true);
  EXPECT_EQ(Msg(r.Bool(at("i"), "i")), "p: i: expected true or false");
  EXPECT_EQ(*r.String(at("s"), "s"), "x");
  EXPECT_EQ(*r.String(at("e"), "e"), "");
  EXPECT_EQ(Msg(r.String(at("e"), "e", true)), "p: e: must not be empty");
  EXPECT_EQ(Msg(r.String(at("i"), "i")), "p: i: expected a string");
  EXPECT_EQ(*r.StringList(at("l"), "l"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Msg(r.StringList(at("bad"), "bad")), "p: bad[1]: expected a non-empty string");
  EXPECT_EQ(Msg(r.StringList(at("s"), "s")), "p: s: expected an array of strings");
  EXPECT_TRUE(r.Object(at("o"), "o").ok());
  EXPECT_EQ(Msg(r.Object(at("a"), "a")), "p: a: expected an object");
  EXPECT_TRUE(r.Array(at("a"), "a").ok());
  EXPECT_EQ(Msg(r.Array(at("o"), "o")), "p: o: expected an array");
}

TEST(ConfigReader, DoubleRefusesNonFinite) {
  Reader r("p: ");
  Object o;
  ASSERT_TRUE(r.Parse(R"({"huge": 1e308})", &o).ok());
  EXPECT_EQ(Msg(r.Double(*Find(o, "huge"), "huge", 0, 1e9)), "p: huge: must be between 0 and 1e+09");
  EXPECT_TRUE(r.Double(*Find(o, "huge"), "huge", 0, std::numeric_limits<double>::infinity()).ok());
}

}  // namespace
}  // namespace continuum::config

namespace continuum::config {
namespace {

// FormatDouble is printf's "%g" (error messages and the rate-limit headers are written with it).
TEST(ConfigReader, FormatDoubleWritesWhatPercentGWrites) {
  const double values[] = {0.0,
                           -0.0,
                           1.0,
                           -1.0,
                           0.5,
                           1e9,
                           999999.0,
                           1e6,
                           1234567,
                           123456,
                           0.0001,
                           0.00001,
                           1.0 / 3.0,
                           2.5e-300,
                           1e300,
                           60.0,
                           59.999,
                           -7.25,
                           1e15,
                           4e9 - 1,
                           99999.95,
                           999999.5,
                           0.1 + 0.2,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::max()};
  for (double v : values) {
    char want[64];
    std::snprintf(want, sizeof want, "%g", v);
    EXPECT_EQ(FormatDouble(v), want) << v;
  }
  for (int i = 0; i < 20000; ++i) {  // integers around the switch to the exponent form, and fractions
    const double v = i % 2 ? 999000.0 + i : i / 7.0;
    char want[64];
    std::snprintf(want, sizeof want, "%g", v);
    ASSERT_EQ(FormatDouble(v), want) << v;
  }
  EXPECT_EQ(FormatDouble(std::nan("")), "nan");
}

}  // namespace
}  // namespace continuum::config
