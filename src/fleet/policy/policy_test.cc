#include <gtest/gtest.h>

#include <string>

#include "fleet/policy/constraints.h"
#include "fleet/policy/plan.h"
#include "fleet/policy/properties.h"

namespace continuum::fleet {
namespace {

Properties MustParse(std::string_view json) {
  auto p = ParsePropertiesJson(json);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : Properties{};
}

std::string ParseError(std::string_view json, const PropertyLimits& limits = {}) {
  auto p = ParsePropertiesJson(json, limits);
  EXPECT_FALSE(p.ok()) << json;
  return p.status().message();
}

std::string WriteJson(const Properties& p) {
  std::string out;
  JsonWriter w(&out);
  WriteProperties(w, p);
  return out;
}

// --- properties -------------------------------------------------------------------------------

TEST(PropertiesTest, ParsesEveryTypeNamed) {
  Properties p = MustParse(R"([
    {"name": "tier", "type": "string", "value": "edge"},
    {"name": "memory_gb", "type": "int", "value": 16},
    {"name": "load", "type": "float", "value": 0.5},
    {"name": "ratio", "type": "float", "value": 2},
    {"name": "gpu", "type": "bool", "value": true},
    {"name": "ort_version", "type": "version", "value": "1.29.0"},
    {"name": "accelerators", "type": "list", "value": ["cpu", "cuda"]}])");
  ASSERT_EQ(p.size(), 7u);
  EXPECT_EQ(p["tier"], StringValue("edge"));
  EXPECT_EQ(p["memory_gb"], IntValue(16));
  EXPECT_EQ(p["load"], FloatValue(0.5));
  EXPECT_EQ(p["ratio"], FloatValue(2));
  EXPECT_EQ(p["gpu"], BoolValue(true));
  EXPECT_EQ(p["ort_version"].type, PropertyType::kVersion);
  EXPECT_EQ(p["ort_version"].s, "1.29.0");
  EXPECT_EQ(p["ort_version"].version, (std::vector<int64_t>{1, 29, 0}));
  EXPECT_EQ(p["accelerators"], ListValue({"cpu", "cuda"}));
}

TEST(PropertiesTest, InfersTypeFromTheJsonValue) {
  Properties p = MustParse(R"([{"name": "a", "value": "1.29.0"}, {"name": "b", "value": -3},
    {"name": "c", "value": 1.5}, {"name": "d", "value": false}, {"name": "e", "value": ["x"]},
    {"name": "f", "value": []}, {"name": "g", "value": 18446744073709551615}])");
  EXPECT_EQ(p["a"], StringValue("1.29.0"));  // a version must be named
  EXPECT_EQ(p["b"], IntValue(-3));
  EXPECT_EQ(p["c"], FloatValue(1.5));
  EXPECT_EQ(p["d"], BoolValue(false));
  EXPECT_EQ(p["e"], ListValue({"x"}));
  EXPECT_EQ(p["f"], ListValue({}));
  EXPECT_EQ(p["g"].type, PropertyType::kFloat);  // beyond int64
}

TEST(PropertiesTest, WritesWithTypesAndReadsBack) {
  Properties p = MustParse(R"([{"name": "v", "type": "version", "value": "1.29"},
    {"name": "f", "type": "float", "value": 2}, {"name": "l", "value": ["a", "b"]},
    {"name": "s", "value": "q\"uote"}, {"name": "i", "value": 7}, {"name": "b", "value": true}])");
  std::string json = WriteJson(p);
  EXPECT_EQ(json.find(R"({"name":"b","type":"bool","value":true})"), 1u) << json;
  EXPECT_NE(json.find(R"({"name":"v","type":"version","value":"1.29"})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"name":"f","type":"float","value":2)"), std::string::npos) << json;
  EXPECT_EQ(MustParse(json), p);
  EXPECT_EQ(WriteJson({}), "[]");
}

TEST(PropertiesTest, ErrorsNameTheField) {
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": 1}, {"name": "b", "value": 1},
    {"name": "v", "type": "version", "value": "1.x"}])"),
            "properties[2].value: expected a version like 1.29.0");
  EXPECT_EQ(ParseError(R"([{"name": "v", "type": "version", "value": 1.29}])"),
            "properties[0].value: expected a version like 1.29.0");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": 1}, {"name": "a", "value": 2}])"),
            "properties[1].name: 'a' is given twice");
  EXPECT_EQ(ParseError(R"([{"name": "Tier", "value": 1}])"),
            "properties[0].name: expected a name like [a-z0-9_.-]{1,64}");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": 1, "colour": 2}])").substr(0, 35),
            "properties[0].colour: unknown field");
  EXPECT_EQ(ParseError(R"([{"name": "a"}])"), "properties[0].value: required");
  EXPECT_EQ(ParseError(R"([{"value": 1}])"), "properties[0].name: required");
  EXPECT_EQ(ParseError(R"([{"name": "a", "type": "number", "value": 1}])"),
            "properties[0].type: expected one of string, int, float, bool, version, list");
  EXPECT_EQ(ParseError(R"([{"name": "a", "type": "int", "value": 1.5}])"),
            "properties[0].value: expected an integer");
  EXPECT_EQ(ParseError(R"([{"name": "a", "type": "float", "value": "1"}])"),
            "properties[0].value: expected a number");
  EXPECT_EQ(ParseError(R"([{"name": "a", "type": "bool", "value": 1}])"),
            "properties[0].value: expected true or false");
  EXPECT_EQ(ParseError(R"([{"name": "a", "type": "string", "value": 1}])"),
            "properties[0].value: expected a string");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": ["x", 1]}])"),
            "properties[0].value[1]: expected a non-empty string");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": null}])"),
            "properties[0].value: expected a string, number, true, false or an array of strings");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": {}}])"),
            "properties[0].value: expected a string, number, true, false or an array of strings");
  EXPECT_EQ(ParseError(R"({"name": "a"})"), "properties: expected an array");
  EXPECT_EQ(ParseError("[1]"), "properties[0]: expected an object");
  EXPECT_NE(ParseError("[").find("not valid JSON"), std::string::npos);
  EXPECT_NE(ParseError("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(ParseError(std::string_view()).find("not valid JSON"), std::string::npos);
  EXPECT_NE(ParseError("[[[[[[[[[[1]]]]]]]]]]").find("not valid JSON"), std::string::npos);
}

TEST(PropertiesTest, Limits) {
  PropertyLimits limits{.max_properties = 2, .max_value_bytes = 4, .max_list_items = 2};
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": 1}, {"name": "b", "value": 1}, {"name": "c", "value": 1}])",
                       limits),
            "properties: more than 2 properties");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": "12345"}])", limits),
            "properties[0].value: longer than 4 bytes");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": ["1", "2", "3"]}])", limits),
            "properties[0].value: more than 2 items");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": ["12345"]}])", limits),
            "properties[0].value[0]: longer than 4 bytes");
  EXPECT_TRUE(
      ParsePropertiesJson(R"([{"name": "a", "value": "1234"}, {"name": "b", "value": ["1", "2"]}])", limits)
          .ok());
  // The defaults: 256 properties, 1024 bytes.
  std::string many = "[";
  for (int k = 0; k < 257; ++k)
    many += (k ? "," : "") + std::string(R"({"name": "p)") + std::to_string(k) + R"(", "value": 1})";
  EXPECT_EQ(ParseError(many + "]"), "properties: more than 256 properties");
  EXPECT_EQ(ParseError(R"([{"name": "a", "value": ")" + std::string(1025, 'x') + "\"}]"),
            "properties[0].value: longer than 1024 bytes");
  EXPECT_EQ(ParseError(R"([{"name": ")" + std::string(65, 'a') + R"(", "value": 1}])"),
            "properties[0].name: expected a name like [a-z0-9_.-]{1,64}");
}

TEST(PropertiesTest, Versions) {
  EXPECT_EQ(ParseVersion("1"), (std::vector<int64_t>{1}));
  EXPECT_EQ(ParseVersion("1.29.0"), (std::vector<int64_t>{1, 29, 0}));
  EXPECT_EQ(ParseVersion("1.2.3.4.5.6.7.8"), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  for (std::string_view bad : {"", "1.2.3.4.5.6.7.8.9", "1..2", ".1", "1.", "v1", "1.-2", "1.2a", "-1",
                               "1234567890123456789", "1.+2"}) {
    EXPECT_FALSE(ParseVersion(bad)) << bad;
  }
  auto cmp = [](std::string_view a, std::string_view b) {
    return CompareVersions(*ParseVersion(a), *ParseVersion(b));
  };
  EXPECT_EQ(cmp("1.29", "1.29.0"), 0);
  EXPECT_LT(cmp("1.9", "1.29"), 0);
  EXPECT_GT(cmp("2", "1.99.99"), 0);
  EXPECT_LT(cmp("1.29", "1.29.0.1"), 0);
}

TEST(PropertiesTest, CommandLineForm) {
  auto arg = [](std::string_view a) {
    auto r = ParsePropertyArg(a);
    EXPECT_TRUE(r.ok()) << a << ": " << r.status().ToString();
    return r.ok() ? *r : std::pair<std::string, PropertyValue>{};
  };
  EXPECT_EQ(arg("memory_gb=16"), std::make_pair(std::string("memory_gb"), IntValue(16)));
  EXPECT_EQ(arg("t=-4").second, IntValue(-4));
  EXPECT_EQ(arg("load=0.25").second, FloatValue(0.25));
  EXPECT_EQ(arg("big=1e3").second, FloatValue(1000));
  EXPECT_EQ(arg("huge=99999999999999999999").second, FloatValue(1e20));
  EXPECT_EQ(arg("gpu=true").second, BoolValue(true));
  EXPECT_EQ(arg("gpu=false").second, BoolValue(false));
  EXPECT_EQ(arg("ort=version:1.29.0").second, *VersionValue("1.29.0"));
  EXPECT_EQ(arg("acc=list:cpu,cuda").second, ListValue({"cpu", "cuda"}));
  EXPECT_EQ(arg("acc=list:").second, ListValue({}));
  EXPECT_EQ(arg("tier=edge").second, StringValue("edge"));
  EXPECT_EQ(arg("v=1.29.0").second, StringValue("1.29.0"));  // a version must be named
  EXPECT_EQ(arg("x=inf").second, StringValue("inf"));
  EXPECT_EQ(arg("x=nan").second, StringValue("nan"));
  EXPECT_EQ(arg("x=0x10").second, StringValue("0x10"));
  EXPECT_EQ(arg("x=+1").second, StringValue("+1"));
  EXPECT_EQ(arg("x=True").second, StringValue("True"));
  EXPECT_EQ(arg("x=").second, StringValue(""));
  EXPECT_EQ(arg("x=a=b").second, StringValue("a=b"));
  EXPECT_EQ(ParsePropertyArg("memory").status().message(), "property 'memory': expected NAME=VALUE");
  EXPECT_EQ(ParsePropertyArg("Mem=1").status().message(),
            "property 'Mem': expected a name like [a-z0-9_.-]{1,64}");
  EXPECT_EQ(ParsePropertyArg("v=version:1.x").status().message(),
            "property 'v': expected a version like 1.29.0");
  EXPECT_EQ(ParsePropertyArg("l=list:a,,b").status().message(), "property 'l': a list item is empty");
  EXPECT_EQ(ParsePropertyArg("s=a\xff").status().message(), "property 's': not valid UTF-8");
  EXPECT_EQ(ParsePropertyArg("l=list:\xc3").status().message(), "property 'l': not valid UTF-8");
  EXPECT_EQ(arg("s=\xc3\xa9t\xc3\xa9").second, StringValue("\xc3\xa9t\xc3\xa9"));
  EXPECT_EQ(ParsePropertyArg("l=list:a,").status().message(), "property 'l': a list item is empty");
  PropertyLimits limits{.max_properties = 1, .max_value_bytes = 3, .max_list_items = 2};
  EXPECT_FALSE(ParsePropertyArg("s=abcd", limits).ok());
  EXPECT_FALSE(ParsePropertyArg("l=list:a,b,c", limits).ok());
  EXPECT_FALSE(ParsePropertyArg("l=list:abcd", limits).ok());
  EXPECT_TRUE(ParsePropertyArg("l=list:abc,abc", limits).ok());
}

TEST(PropertiesTest, ToStringAndMerge) {
  EXPECT_EQ(PropertyToString(StringValue("edge")), "edge");
  EXPECT_EQ(PropertyToString(IntValue(16)), "16");
  EXPECT_EQ(PropertyToString(FloatValue(0.1)), "0.1");
  EXPECT_EQ(PropertyToString(FloatValue(2)), "2");
  EXPECT_EQ(PropertyToString(FloatValue(-6.5e+20)), "-6.5e+20");
  EXPECT_EQ(PropertyToString(FloatValue(1e20)), "1e+20");
  Properties big{{"a", FloatValue(-6.5e+20)}, {"b", FloatValue(1e300)}, {"c", FloatValue(-0.0)}};
  EXPECT_EQ(MustParse(WriteJson(big)), big);
  EXPECT_EQ(PropertyToString(BoolValue(true)), "true");
  EXPECT_EQ(PropertyToString(*VersionValue("1.29")), "1.29");
  EXPECT_EQ(PropertyToString(ListValue({"a", "b"})), "[a,b]");
  EXPECT_EQ(PropertyToString(ListValue({})), "[]");

  Properties reported{{"tier", StringValue("edge")}, {"memory_gb", IntValue(16)}};
  Properties operator_set{{"tier", StringValue("cloud")}, {"zone", StringValue("b")}};
  Properties merged = MergeProperties(reported, operator_set);
  EXPECT_EQ(
      merged,
      (Properties{{"tier", StringValue("cloud")}, {"memory_gb", IntValue(16)}, {"zone", StringValue("b")}}));
  EXPECT_EQ(MergeProperties(reported, {}), reported);
}

// --- constraints ------------------------------------------------------------------------------

Properties Node() {
  return MustParse(R"([
    {"name": "tier", "value": "edge"},
    {"name": "memory_gb", "value": 16},
    {"name": "load", "value": 0.5},
    {"name": "gpu", "value": true},
    {"name": "spot", "value": false},
    {"name": "ort_version", "type": "version", "value": "1.29.0"},
    {"name": "accelerators", "value": ["cpu", "cuda"]},
    {"name": "country", "value": "us"},
    {"name": "label", "value": "hello world"}])");
}

Constraint::Result Eval(std::string_view text, const Properties& p = Node()) {
  auto c = Constraint::Parse(text);
  EXPECT_TRUE(c.ok()) << text << ": " << c.status().ToString();
  if (!c.ok()) return {false, "PARSE ERROR"};
  EXPECT_EQ(c->text(), text);
  return c->Evaluate(p);
}

bool Match(std::string_view text, const Properties& p = Node()) { return Eval(text, p).match; }

std::string Why(std::string_view text, const Properties& p = Node()) { return Eval(text, p).reason; }

std::string ParseErr(std::string_view text, const ConstraintLimits& limits = {}) {
  auto c = Constraint::Parse(text, limits);
  EXPECT_FALSE(c.ok()) << text;
  return c.ok() ? "" : c.status().message();
}

TEST(ConstraintTest, EmptyMatchesEveryNode) {
  EXPECT_TRUE(Match(""));
  EXPECT_TRUE(Match("  \t\n"));
  EXPECT_TRUE(Match("", {}));
  EXPECT_EQ(Why(""), "no constraint");
}

TEST(ConstraintTest, StringOperators) {
  EXPECT_TRUE(Match("tier == edge"));
  EXPECT_TRUE(Match("tier == \"edge\""));
  EXPECT_FALSE(Match("tier == cloud"));
  EXPECT_TRUE(Match("tier != cloud"));
  EXPECT_FALSE(Match("tier != edge"));
  EXPECT_TRUE(Match("tier < f"));
  EXPECT_TRUE(Match("tier <= edge"));
  EXPECT_FALSE(Match("tier > edge"));
  EXPECT_TRUE(Match("tier >= edge"));
  EXPECT_TRUE(Match("tier > cloud"));
  EXPECT_TRUE(Match("label == \"hello world\""));
  EXPECT_TRUE(Match("memory_gb == \"16\""));  // a quoted literal is read as the property's type too
  EXPECT_TRUE(Match("tier in (cloud, edge)"));
  EXPECT_FALSE(Match("tier in (cloud)"));
  EXPECT_TRUE(Match("tier in [a, f]"));  // a lexicographic range
  EXPECT_FALSE(Match("tier in (edge, f]"));
}

TEST(ConstraintTest, IntAndFloatOperators) {
  for (auto [text, want] : std::vector<std::pair<std::string, bool>>{{"memory_gb == 16", true},
                                                                     {"memory_gb == 16.0", true},
                                                                     {"memory_gb != 16", false},
                                                                     {"memory_gb < 16", false},
                                                                     {"memory_gb <= 16", true},
                                                                     {"memory_gb > 15.5", true},
                                                                     {"memory_gb >= 17", false},
                                                                     {"memory_gb > -1", true},
                                                                     {"memory_gb in (8, 16, 32)", true},
                                                                     {"memory_gb in (8, 16.0)", true},
                                                                     {"memory_gb in (8, 32)", false},
                                                                     {"load == 0.5", true},
                                                                     {"load != 0.5", false},
                                                                     {"load < 1", true},
                                                                     {"load <= 0.5", true},
                                                                     {"load > 0.25", true},
                                                                     {"load >= 0.75", false},
                                                                     {"load in (0.5, 1)", true},
                                                                     {"load == 5e-1", true}}) {
    EXPECT_EQ(Match(text), want) << text;
  }
}

TEST(ConstraintTest, BoolOperators) {
  EXPECT_TRUE(Match("gpu == true"));
  EXPECT_FALSE(Match("gpu == false"));
  EXPECT_TRUE(Match("gpu != false"));
  EXPECT_TRUE(Match("spot == false"));
  EXPECT_TRUE(Match("gpu"));
  EXPECT_FALSE(Match("spot"));
  EXPECT_TRUE(Match("!spot"));
  EXPECT_TRUE(Match("not spot"));
  EXPECT_EQ(Why("gpu > false"), "gpu is a bool: only == and != apply, not >");
  EXPECT_EQ(Why("gpu in (true)"), "gpu is a bool: only == and != apply, not in");
  EXPECT_EQ(Why("gpu in [false, true]"), "gpu is a bool: a range does not apply");
  EXPECT_EQ(Why("gpu == yes"), "gpu is true (bool), not comparable with yes (not true or false)");
  EXPECT_EQ(Why("spot"), "spot is false");
  EXPECT_EQ(Why("tier"), "tier is edge, not a bool");
  EXPECT_EQ(Why("gpu"), "gpu");
}

TEST(ConstraintTest, VersionOperators) {
  for (auto [text, want] :
       std::vector<std::pair<std::string, bool>>{{"ort_version == 1.29", true},
                                                 {"ort_version == 1.29.0.0", true},
                                                 {"ort_version != 1.29", false},
                                                 {"ort_version > 1.9", true},
                                                 {"ort_version >= 1.29.1", false},
                                                 {"ort_version < 2", true},
                                                 {"ort_version <= 1.28.99", false},
                                                 {"ort_version in (1.28, 1.29)", true},
                                                 {"ort_version in [1.29, 2.0)", true},
                                                 {"ort_version in (1.29, 2.0)", true},  // a set
                                                 {"ort_version in (1.29, 2.0]", false},
                                                 {"ort_version in (1.28, 2.0]", true},
                                                 {"ort_version in [1.0, 1.29]", true},
                                                 {"ort_version in [1.0, 1.29)", false},
                                                 {"ort_version == \"1.29.0\"", true}}) {
    EXPECT_EQ(Match(text), want) << text;
  }
  EXPECT_EQ(Why("ort_version > abc"),
            "ort_version is 1.29.0 (version), not comparable with abc (not a version)");
}

TEST(ConstraintTest, RangesWithEveryBracket) {
  // memory_gb is 16.
  EXPECT_TRUE(Match("memory_gb in [16, 32]"));
  EXPECT_TRUE(Match("memory_gb in [16, 32)"));
  EXPECT_FALSE(Match("memory_gb in (16, 32]"));
  EXPECT_TRUE(Match("memory_gb in [8, 16]"));
  EXPECT_FALSE(Match("memory_gb in [8, 16)"));
  EXPECT_TRUE(Match("memory_gb in (8, 16]"));
  EXPECT_TRUE(Match("memory_gb in (15.5, 16.5]"));
  EXPECT_TRUE(Match("memory_gb in (16, 32)"));  // ( ... ) with two values is a set: 16 is in it
  EXPECT_FALSE(Match("memory_gb in (8, 32)"));
  EXPECT_EQ(Why("memory_gb in [8, 16)"), "memory_gb is 16, not in [8, 16)");
  EXPECT_EQ(Why("memory_gb in (8, 16]"), "memory_gb (16) in (8, 16]");
  EXPECT_EQ(Why("memory_gb in [a, 16]"), "memory_gb is 16 (int), not comparable with a (not a number)");
  EXPECT_EQ(Why("memory_gb in [1, b]"), "memory_gb is 16 (int), not comparable with b (not a number)");
}

TEST(ConstraintTest, Lists) {
  EXPECT_TRUE(Match("accelerators == cuda"));
  EXPECT_FALSE(Match("accelerators == rocm"));
  EXPECT_TRUE(Match("accelerators != rocm"));
  EXPECT_FALSE(Match("accelerators != cuda"));
  EXPECT_TRUE(Match("accelerators in (rocm, cuda)"));
  EXPECT_FALSE(Match("accelerators in (rocm, tpu)"));
  EXPECT_EQ(Why("accelerators == cuda"), "accelerators [cpu,cuda] contains cuda");
  EXPECT_EQ(Why("accelerators == rocm"), "accelerators [cpu,cuda] does not contain rocm");
  EXPECT_EQ(Why("accelerators in (rocm, tpu)"), "accelerators is [cpu,cuda], not in (rocm, tpu)");
  EXPECT_EQ(Why("accelerators in (rocm, cuda)"), "accelerators ([cpu,cuda]) in (rocm, cuda)");
  EXPECT_EQ(Why("accelerators > a"), "accelerators is a list: only ==, != and in apply, not >");
  EXPECT_EQ(Why("accelerators in [a, z]"), "accelerators is a list: a range does not apply");
  EXPECT_FALSE(Match("x == a", {{"x", ListValue({})}}));
}

TEST(ConstraintTest, TypeMismatchIsANonMatchWithAReason) {
  EXPECT_EQ(Eval("memory_gb > abc").match, false);
  EXPECT_EQ(Why("memory_gb > abc"), "memory_gb is 16 (int), not comparable with abc (not a number)");
  EXPECT_EQ(Why("load == \"x y\""), "load is 0.5 (float), not comparable with \"x y\" (not a number)");
  EXPECT_EQ(Why("memory_gb in (8, x)"), "memory_gb is 16 (int), not comparable with x (not a number)");
  EXPECT_TRUE(Match("memory_gb in (16, x)"));  // found before the odd value
}

TEST(ConstraintTest, MissingProperties) {
  EXPECT_EQ(Why("ort == 1"), "ort: not set");
  EXPECT_FALSE(Match("ort != 1"));
  EXPECT_FALSE(Match("ort in (1, 2)"));
  EXPECT_FALSE(Match("ort in [1, 2]"));
  EXPECT_FALSE(Match("ort"));
  EXPECT_TRUE(Match("not ort == 1"));
  EXPECT_TRUE(Match("!(ort != 1)"));
  EXPECT_EQ(Why("!ort"), "ort: not set");
  EXPECT_EQ(Why("ort_version >= 1.29", {}), "ort_version: not set");
}

TEST(ConstraintTest, Reasons) {
  EXPECT_EQ(Why("tier == edge && memory_gb >= 8"), "tier == edge and memory_gb (16) >= 8");
  EXPECT_EQ(Why("tier == edge and memory_gb >= 32"), "memory_gb is 16, not >= 32");
  EXPECT_EQ(Why("memory_gb >= 32 and tier == cloud"), "memory_gb is 16, not >= 32");
  EXPECT_EQ(Why("country in (de, fr)"), "country is us, not in (de, fr)");
  EXPECT_EQ(Why("country in (de, us)"), "country (us) in (de, us)");
  EXPECT_EQ(Why("tier != cloud"), "tier (edge) != cloud");
  EXPECT_EQ(Why("tier == cloud"), "tier is edge, not == cloud");
  EXPECT_EQ(Why("tier == cloud || gpu"), "gpu");
  EXPECT_EQ(Why("tier == cloud || spot"), "tier is edge, not == cloud; spot is false");
  EXPECT_EQ(Why("not tier == cloud"), "tier is edge, not == cloud");
  EXPECT_EQ(Why("not tier == edge"), "not (tier == edge)");
  EXPECT_EQ(Why("label != \"a\\\"b\""), "label (hello world) != \"a\\\"b\"");
  Properties big{{"s", StringValue(std::string(2000, 'x'))}};
  EXPECT_EQ(Why("s == y", big), "s is " + std::string(64, 'x') + "..., not == y");
}

TEST(ConstraintTest, Precedence) {
  // and binds tighter than or: a || (b && c).
  EXPECT_TRUE(Match("gpu || spot && tier == cloud"));
  EXPECT_FALSE(Match("(gpu || spot) && tier == cloud"));
  EXPECT_TRUE(Match("tier == cloud && spot || gpu"));
  EXPECT_FALSE(Match("tier == cloud && (spot || gpu)"));
  // not binds tighter than and / or.
  EXPECT_TRUE(Match("not spot and gpu"));
  EXPECT_FALSE(Match("not (spot or gpu)"));
  EXPECT_TRUE(Match("not spot or spot"));
  EXPECT_TRUE(Match("!!gpu"));
  EXPECT_TRUE(Match("not not not spot"));
  EXPECT_TRUE(Match("tier==edge&&memory_gb>=8||spot"));
  EXPECT_TRUE(Match("gpu or spot or tier == x"));
  EXPECT_TRUE(Match("gpu and tier == edge and memory_gb == 16 and ort_version >= 1"));
}

TEST(ConstraintTest, Parentheses) {
  EXPECT_TRUE(Match("((((gpu))))"));
  EXPECT_TRUE(Match("(tier == edge) && ((memory_gb > 8) || (spot))"));
  EXPECT_FALSE(Match("((tier == edge) && !((memory_gb > 8) || (spot)))"));
  EXPECT_TRUE(Match("(tier in (edge, cloud)) and (memory_gb in [8, 16])"));
}

TEST(ConstraintTest, ParseErrorsSayWhereAndWhat) {
  EXPECT_EQ(ParseErr("tier =="),
            "constraint: at 7: expected a value (a word, a number or a \"string\") after ==, got the end");
  EXPECT_EQ(ParseErr("tier = edge"), "constraint: at 5: expected '==' (a single '=' is not an operator)");
  EXPECT_EQ(ParseErr("tier == edge & gpu"), "constraint: at 13: expected '&&'");
  EXPECT_EQ(ParseErr("tier == edge | gpu"), "constraint: at 13: expected '||'");
  EXPECT_EQ(
      ParseErr("memory_gb 8"),
      "constraint: at 10: expected an operator (==, !=, <, <=, >, >=) or 'in' after memory_gb, got '8'");
  EXPECT_EQ(ParseErr("gpu spot").substr(0, 23), "constraint: at 4: expec");
  EXPECT_EQ(ParseErr("gpu gpu2"),
            "constraint: at 4: expected an operator (==, !=, <, <=, >, >=) or 'in' after gpu, got 'gpu2'");
  EXPECT_EQ(ParseErr("gpu )"), "constraint: at 4: expected 'and', 'or', '&&', '||' or the end, got ')'");
  EXPECT_EQ(ParseErr("(gpu"), "constraint: at 4: expected ')' to close the '(' at 0, got the end");
  EXPECT_EQ(ParseErr("Tier == edge"),
            "constraint: at 0: expected a property name, '(', '!' or 'not', got 'Tier' (names are "
            "[a-z0-9_.-]{1,64})");
  EXPECT_EQ(ParseErr("gpu and"),
            "constraint: at 7: expected a property name, '(', '!' or 'not', got the end");
  EXPECT_EQ(ParseErr("and gpu"), "constraint: at 0: expected a property name, '(', '!' or 'not', got 'and'");
  EXPECT_EQ(ParseErr("== 1"), "constraint: at 0: expected a property name, '(', '!' or 'not', got '=='");
  EXPECT_EQ(ParseErr("\"tier\" == edge"),
            "constraint: at 0: expected a property name, '(', '!' or 'not', got the string 'tier'");
  EXPECT_EQ(ParseErr("tier == \"edge"), "constraint: at 8: a string that is not closed (expected '\"')");
  EXPECT_EQ(ParseErr("tier == \"a\\nb\""),
            "constraint: at 10: expected \\\" or \\\\ (the only escapes in a string)");
  EXPECT_EQ(
      ParseErr("tier == ed$ge"),
      "constraint: at 10: unexpected character '$'; expected a name, a value, an operator, '(', ')', '[', "
      "']' or ','");
  EXPECT_EQ(ParseErr("x in 1"),
            "constraint: at 5: expected '(' (a set or a range) or '[' (a range) after 'in', got '1'");
  EXPECT_EQ(ParseErr("x in ()"),
            "constraint: at 6: expected a value (a word, a number or a \"string\") after '(', got ')'");
  EXPECT_EQ(ParseErr("x in (a,)"),
            "constraint: at 8: expected a value (a word, a number or a \"string\") after ',', got ')'");
  EXPECT_EQ(ParseErr("x in (a b)"), "constraint: at 8: expected ',', ')' or ']' (opened at 5), got 'b'");
  EXPECT_EQ(ParseErr("x in [a]"), "constraint: at 7: a range has exactly two bounds, got 1 (opened at 5)");
  EXPECT_EQ(ParseErr("x in [a, b, c)"),
            "constraint: at 13: a range has exactly two bounds, got 3 (opened at 5)");
  EXPECT_EQ(ParseErr("x in (a, b, c]"),
            "constraint: at 13: a range has exactly two bounds, got 3 (opened at 5)");
  EXPECT_EQ(ParseErr("x in (a, b"), "constraint: at 10: expected ',', ')' or ']' (opened at 5), got the end");
  EXPECT_EQ(ParseErr("x < in"),
            "constraint: at 4: expected a value (a word, a number or a \"string\") after <, got 'in'");
  EXPECT_EQ(ParseErr("not"), "constraint: at 3: expected a property name, '(', '!' or 'not', got the end");
  EXPECT_EQ(ParseErr("()"), "constraint: at 1: expected a property name, '(', '!' or 'not', got ')'");
}

TEST(ConstraintTest, Limits) {
  ConstraintLimits defaults;
  EXPECT_EQ(defaults.max_text_bytes, 4096u);
  EXPECT_EQ(defaults.max_depth, 32u);
  EXPECT_EQ(defaults.max_terms, 256u);

  std::string long_text = "gpu" + std::string(4094, ' ');
  EXPECT_EQ(ParseErr(long_text), "constraint: at 4096: longer than 4096 bytes");
  EXPECT_TRUE(Constraint::Parse(long_text.substr(0, 4096)).ok());

  std::string deep = std::string(32, '(') + "gpu" + std::string(32, ')');
  EXPECT_TRUE(Match(deep));
  EXPECT_EQ(ParseErr("(" + deep + ")"), "constraint: at 32: nested deeper than 32 levels");
  EXPECT_TRUE(Match(std::string(32, '!') + "gpu"));
  EXPECT_EQ(ParseErr(std::string(33, '!') + "gpu"), "constraint: at 32: nested deeper than 32 levels");
  EXPECT_EQ(ParseErr(std::string(20, '!') + std::string(13, '(') + "gpu"),
            "constraint: at 32: nested deeper than 32 levels");

  std::string terms = "gpu";
  for (int k = 1; k < 256; ++k) terms += " and gpu";
  EXPECT_TRUE(Match(terms));
  EXPECT_EQ(ParseErr(terms + " or gpu"),
            "constraint: at " + std::to_string(terms.size() + 4) + ": more than 256 tests");

  ConstraintLimits small{.max_text_bytes = 10, .max_depth = 1, .max_terms = 1};
  EXPECT_EQ(ParseErr("tier == edge", small), "constraint: at 10: longer than 10 bytes");
  EXPECT_EQ(ParseErr("((gpu))", small), "constraint: at 1: nested deeper than 1 levels");
  EXPECT_EQ(ParseErr("a or b", small), "constraint: at 5: more than 1 tests");
  EXPECT_TRUE(Constraint::Parse("(gpu)", small).ok());
}

TEST(ConstraintTest, BareWordsAndStrings) {
  Properties p{{"registry", StringValue("host:5000/models/a-b_c.d")}, {"name", StringValue("")}};
  EXPECT_TRUE(Match("registry == host:5000/models/a-b_c.d", p));
  EXPECT_TRUE(Match("name == \"\"", p));
  EXPECT_TRUE(Match("name < a", p));
  EXPECT_TRUE(Match("registry == \"host:5000/models/a-b_c.d\"", p));
  Properties q{{"s", StringValue("a\"b\\c")}};
  EXPECT_TRUE(Match(R"(s == "a\"b\\c")", q));
  Properties kw{{"k", StringValue("and")}};
  EXPECT_TRUE(Match("k == \"and\"", kw));
}

TEST(ConstraintTest, ConstraintsAreValues) {
  auto a = Constraint::Parse("tier == edge");
  ASSERT_TRUE(a.ok());
  Constraint copy = *a;
  EXPECT_EQ(copy.text(), "tier == edge");
  EXPECT_TRUE(copy.Evaluate(Node()).match);
}

// --- plan -------------------------------------------------------------------------------------

TEST(PlanTest, ResidencyAndConstraint) {
  std::map<std::string, Properties> nodes{
      {"a", {{"tier", StringValue("edge")}, {"jurisdiction", ListValue({"eu", "de"})}}},
      {"b", {{"tier", StringValue("edge")}, {"jurisdiction", ListValue({"us"})}}},
      {"c", {{"tier", StringValue("edge")}}},
      {"d", {{"tier", StringValue("cloud")}, {"jurisdiction", StringValue("eu")}}},
      {"e", {{"tier", StringValue("edge")}, {"jurisdiction", StringValue("eu")}}},
      {"f", {{"tier", StringValue("edge")}, {"jurisdiction", IntValue(1)}}}};
  auto c = Constraint::Parse("tier == edge");
  ASSERT_TRUE(c.ok());
  std::vector<PlanRow> rows = Plan(*c, "eu", nodes);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0], (PlanRow{"a", true, "jurisdiction [eu,de] includes eu and tier == edge"}));
  EXPECT_EQ(rows[1], (PlanRow{"b", false, "jurisdiction [us] does not include eu"}));
  EXPECT_EQ(rows[2], (PlanRow{"c", false, "jurisdiction: not set (residency eu requires it)"}));
  EXPECT_EQ(rows[3], (PlanRow{"d", false, "tier is cloud, not == edge"}));
  EXPECT_EQ(rows[4], (PlanRow{"e", true, "jurisdiction eu includes eu and tier == edge"}));
  EXPECT_EQ(rows[5], (PlanRow{"f", false, "jurisdiction is 1 (int), not a string or a list"}));

  std::vector<PlanRow> anywhere = Plan(*c, "", nodes);
  EXPECT_TRUE(anywhere[1].match);
  EXPECT_TRUE(anywhere[2].match);
  EXPECT_FALSE(anywhere[3].match);

  auto empty = Constraint::Parse("");
  ASSERT_TRUE(empty.ok());
  std::vector<PlanRow> only_residency = Plan(*empty, "eu", nodes);
  EXPECT_EQ(only_residency[3], (PlanRow{"d", true, "jurisdiction eu includes eu"}));
  EXPECT_EQ(Plan(*empty, "", nodes)[2], (PlanRow{"c", true, "no constraint"}));
  EXPECT_TRUE(Plan(*c, "eu", {}).empty());
}

}  // namespace
}  // namespace continuum::fleet
