// Node properties: typed name/value pairs a node reports about itself (tier, memory_gb, gpu,
// ort_version, jurisdiction) and an operator may set or override, in the style of Open Horizon's
// node properties. Deployment constraints (constraints.h) are evaluated against them.
//
// Types: string, int (int64), float (finite double), bool, version (1 to 8 dotted non-negative
// integers, "1.29" or "1.29.0"; compared part by part, missing parts are 0) and list (of strings).
//
// JSON form: an array of {"name": "...", "value": <json>, "type": "string|int|float|bool|version|list"};
// "type" is optional and then inferred from the JSON value (string -> string, integer -> int, other
// number -> float, bool -> bool, array of strings -> list); a version must be named. Names match
// [a-z0-9_.-]{1,64}; a name given twice is refused. Limits (PropertyLimits): at most 256 properties,
// strings (and each list item) at most 1024 bytes, lists at most 256 items. Errors name the field:
// "properties[2].value: expected a version like 1.29.0".
//
// Command-line form NAME=VALUE: int if VALUE is an integer, float if a number, bool for true|false,
// "version:1.29.0" a version, "list:a,b" a list, else a string.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "common/status.h"

namespace continuum::fleet {

enum class PropertyType { kString, kInt, kFloat, kBool, kVersion, kList };

struct PropertyValue {
  PropertyType type = PropertyType::kString;
  std::string s;                  // kString; kVersion: the text as given ("1.29.0")
  int64_t i = 0;                  // kInt
  double f = 0;                   // kFloat
  bool b = false;                 // kBool
  std::vector<int64_t> version;   // kVersion: parsed dotted numbers {1, 29, 0}
  std::vector<std::string> list;  // kList: strings
  bool operator==(const PropertyValue&) const = default;
};

using Properties = std::map<std::string, PropertyValue, std::less<>>;

// Bounds on what the parsers accept.
struct PropertyLimits {
  size_t max_properties = 256;
  size_t max_value_bytes = 1024;  // a string, a version's text, each list item
  size_t max_list_items = 256;
};

// Version texts: 1 to 8 dotted parts, each 1 to 18 decimal digits.
inline constexpr size_t kMaxVersionParts = 8;

// "string", "int", "float", "bool", "version", "list".
std::string_view PropertyTypeName(PropertyType t);
std::optional<PropertyType> ParsePropertyType(std::string_view name);
// [a-z0-9_.-]{1,64}.
bool IsValidPropertyName(std::string_view name);
// The dotted numbers of a version text, nullopt when it is not one.
std::optional<std::vector<int64_t>> ParseVersion(std::string_view text);
// -?[0-9]+ that fits an int64; nullopt otherwise.
std::optional<int64_t> ParseIntText(std::string_view text);
// A finite decimal number ("-1", "0.5", "1e3"; no inf, nan, hex or leading '+'); nullopt otherwise.
std::optional<double> ParseNumberText(std::string_view text);
// <0, 0, >0 as a is older than, the same as, newer than b; missing parts are 0 (1.29 == 1.29.0).
int CompareVersions(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// Values built from their parts (a version's text is checked: nullopt when it is not one).
PropertyValue StringValue(std::string s);
PropertyValue IntValue(int64_t i);
PropertyValue FloatValue(double f);
PropertyValue BoolValue(bool b);
std::optional<PropertyValue> VersionValue(std::string_view text);
PropertyValue ListValue(std::vector<std::string> items);

// The JSON array at `array` (path `where`, e.g. "properties"), read through `r` whose prefix opens
// every message.
StatusOr<Properties> ParseProperties(const config::Reader& r, config::Element array, std::string_view where);
StatusOr<Properties> ParseProperties(const config::Reader& r, config::Element array, std::string_view where,
                                     const PropertyLimits& limits);
// The array as a whole document; errors name "properties[i]...".
StatusOr<Properties> ParsePropertiesJson(std::string_view json);
StatusOr<Properties> ParsePropertiesJson(std::string_view json, const PropertyLimits& limits);
// Writes the JSON array, sorted by name, each element with its "type".
void WriteProperties(JsonWriter& w, const Properties& p);

// NAME=VALUE (see above).
StatusOr<std::pair<std::string, PropertyValue>> ParsePropertyArg(std::string_view arg);
StatusOr<std::pair<std::string, PropertyValue>> ParsePropertyArg(std::string_view arg,
                                                                 const PropertyLimits& limits);

// "edge", "16", "0.5", "true", "1.29.0", "[a,b]".
std::string PropertyToString(const PropertyValue& v);

// Operator-set properties override what the node reports, name by name.
Properties MergeProperties(const Properties& reported, const Properties& operator_set);

}  // namespace continuum::fleet
