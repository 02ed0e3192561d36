#include "fleet/policy/properties.h"

#include <charconv>
#include <cmath>

namespace continuum::fleet {
namespace {

constexpr std::string_view kVersionWords = "expected a version like 1.29.0";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// -?[0-9]+ that fits an int64.
}  // namespace

std::optional<int64_t> ParseIntText(std::string_view s) {
  size_t start = !s.empty() && s[0] == '-' ? 1 : 0;
  if (s.size() == start) return std::nullopt;
  for (size_t k = start; k < s.size(); ++k) {
    if (!IsDigit(s[k])) return std::nullopt;
  }
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// A finite decimal number ([-]digits[.digits][e[+-]digits]); no inf, nan or hex.
std::optional<double> ParseNumberText(std::string_view s) {
  if (s.empty() || s.size() > 64) return std::nullopt;
  bool digit = false;
  for (char c : s) {
    if (IsDigit(c)) {
      digit = true;
    } else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E') {
      return std::nullopt;
    }
  }
  if (!digit || s[0] == '+') return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

namespace {

// The shortest text that reads back as `f`; large whole numbers in exponent form ("1e+20", not
// "100000000000000000000", which JSON readers take for an integer that does not fit).
std::string FormatFloat(double f) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
  if (ec != std::errc()) return config::FormatDouble(f);
  std::string_view text(buf, static_cast<size_t>(end - buf));
  if (std::fabs(f) < 1e15 || text.find_first_of(".e") != std::string_view::npos) return std::string(text);
  std::to_chars_result sci = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  return sci.ec == std::errc() ? std::string(buf, sci.ptr) : config::FormatDouble(f);
}

Status CheckText(const config::Reader& r, std::string_view field, std::string_view s,
                 const PropertyLimits& limits) {
  if (s.size() > limits.max_value_bytes) {
    return r.Err(field, "longer than " + std::to_string(limits.max_value_bytes) + " bytes");
  }
  return Status::Ok();
}

StatusOr<PropertyValue> ReadList(const config::Reader& r, config::Element e, std::string_view field,
                                 const PropertyLimits& limits) {
  config::Array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return r.Err(field, "expected an array of strings");
  if (a.size() > limits.max_list_items) {
    return r.Err(field, "more than " + std::to_string(limits.max_list_items) + " items");
  }
  std::vector<std::string> items;
  for (config::Element x : a) {
    std::string item_field = config::Index(field, items.size());
    std::string_view s;
    if (x.get_string().get(s) != simdjson::SUCCESS || s.empty()) {
      return r.Err(item_field, "expected a non-empty string");
    }
    RETURN_IF_ERROR(CheckText(r, item_field, s, limits));
    items.emplace_back(s);
  }
  return ListValue(std::move(items));
}

StatusOr<PropertyValue> ReadTyped(const config::Reader& r, config::Element e, std::string_view field,
                                  PropertyType type, const PropertyLimits& limits) {
  switch (type) {
    case PropertyType::kString: {
      ASSIGN_OR_RETURN(std::string s, r.String(e, field));
      RETURN_IF_ERROR(CheckText(r, field, s, limits));
      return StringValue(std::move(s));
    }
    case PropertyType::kInt: {
      ASSIGN_OR_RETURN(int64_t i, r.Int(e, field, INT64_MIN, INT64_MAX));
      return IntValue(i);
    }
    case PropertyType::kFloat: {
      double f = 0;
      if (e.get_double().get(f) != simdjson::SUCCESS || !std::isfinite(f)) {
        return r.Err(field, "expected a number");
      }
      return FloatValue(f);
    }
    case PropertyType::kBool: {
      ASSIGN_OR_RETURN(bool b, r.Bool(e, field));
      return BoolValue(b);
    }
    case PropertyType::kVersion: {
      std::string_view s;
      if (e.get_string().get(s) != simdjson::SUCCESS) return r.Err(field, kVersionWords);
      std::optional<PropertyValue> v = VersionValue(s);
      if (!v) return r.Err(field, kVersionWords);
      return *std::move(v);
    }
    case PropertyType::kList: return ReadList(r, e, field, limits);
  }
  return r.Err(field, "unknown type");
}

StatusOr<PropertyValue> ReadInferred(const config::Reader& r, config::Element e, std::string_view field,
                                     const PropertyLimits& limits) {
  switch (e.type()) {
    case simdjson::dom::element_type::STRING: return ReadTyped(r, e, field, PropertyType::kString, limits);
    case simdjson::dom::element_type::INT64: return ReadTyped(r, e, field, PropertyType::kInt, limits);
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: return ReadTyped(r, e, field, PropertyType::kFloat, limits);
    case simdjson::dom::element_type::BOOL: return ReadTyped(r, e, field, PropertyType::kBool, limits);
    case simdjson::dom::element_type::ARRAY: return ReadTyped(r, e, field, PropertyType::kList, limits);
    default: break;
  }
  return r.Err(field, "expected a string, number, true, false or an array of strings");
}

StatusOr<std::pair<std::string, PropertyValue>> ReadOne(const config::Reader& r, config::Element e,
                                                        std::string_view where,
                                                        const PropertyLimits& limits) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(r.CheckKeys(o, where, {"name", "value", "type"}));
  ASSIGN_OR_RETURN(config::Element name_e, r.Required(o, where, "name"));
  std::string name_field = config::Key(where, "name");
  ASSIGN_OR_RETURN(std::string name, r.String(name_e, name_field));
  if (!IsValidPropertyName(name)) return r.Err(name_field, "expected a name like [a-z0-9_.-]{1,64}");
  ASSIGN_OR_RETURN(config::Element value_e, r.Required(o, where, "value"));
  std::string value_field = config::Key(where, "value");
  if (std::optional<config::Element> type_e = config::Find(o, "type")) {
    std::string type_field = config::Key(where, "type");
    ASSIGN_OR_RETURN(std::string type_name, r.String(*type_e, type_field));
    std::optional<PropertyType> type = ParsePropertyType(type_name);
    if (!type) return r.Err(type_field, "expected one of string, int, float, bool, version, list");
    ASSIGN_OR_RETURN(PropertyValue v, ReadTyped(r, value_e, value_field, *type, limits));
    return std::make_pair(std::move(name), std::move(v));
  }
  ASSIGN_OR_RETURN(PropertyValue v, ReadInferred(r, value_e, value_field, limits));
  return std::make_pair(std::move(name), std::move(v));
}

// The list items of "list:a,b" ("list:" is the empty list).
StatusOr<PropertyValue> ArgList(std::string_view field, std::string_view text, const PropertyLimits& limits) {
  std::vector<std::string> items;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    if (item.empty()) return InvalidArgument(std::string(field) + ": a list item is empty");
    if (item.size() > limits.max_value_bytes || items.size() >= limits.max_list_items) {
      return InvalidArgument(std::string(field) + ": a list of at most " +
                             std::to_string(limits.max_list_items) + " items of at most " +
                             std::to_string(limits.max_value_bytes) + " bytes");
    }
    items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return InvalidArgument(std::string(field) + ": a list item is empty");
  }
  return ListValue(std::move(items));
}

}  // namespace

std::string_view PropertyTypeName(PropertyType t) {
  switch (t) {
    case PropertyType::kString: return "string";
    case PropertyType::kInt: return "int";
    case PropertyType::kFloat: return "float";
    case PropertyType::kBool: return "bool";
    case PropertyType::kVersion: return "version";
    case PropertyType::kList: return "list";
  }
  return "unknown";
}

std::optional<PropertyType> ParsePropertyType(std::string_view name) {
  for (PropertyType t : {PropertyType::kString, PropertyType::kInt, PropertyType::kFloat, PropertyType::kBool,
                         PropertyType::kVersion, PropertyType::kList}) {
    if (PropertyTypeName(t) == name) return t;
  }
  return std::nullopt;
}

bool IsValidPropertyName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

std::optional<std::vector<int64_t>> ParseVersion(std::string_view text) {
  std::vector<int64_t> parts;
  while (true) {
    size_t dot = text.find('.');
    std::string_view part = text.substr(0, dot);
    if (part.empty() || part.size() > 18 || parts.size() >= kMaxVersionParts) return std::nullopt;
    for (char c : part) {
      if (!IsDigit(c)) return std::nullopt;
    }
    std::optional<int64_t> v = ParseIntText(part);
    if (!v) return std::nullopt;
    parts.push_back(*v);
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return parts;
}

int CompareVersions(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  for (size_t k = 0; k < std::max(a.size(), b.size()); ++k) {
    int64_t x = k < a.size() ? a[k] : 0;
    int64_t y = k < b.size() ? b[k] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

PropertyValue StringValue(std::string s) {
  PropertyValue v;
  v.s = std::move(s);
  return v;
}

PropertyValue IntValue(int64_t i) {
  PropertyValue v;
  v.type = PropertyType::kInt;
  v.i = i;
  return v;
}

PropertyValue FloatValue(double f) {
  PropertyValue v;
  v.type = PropertyType::kFloat;
  v.f = f;
  return v;
}

PropertyValue BoolValue(bool b) {
  PropertyValue v;
  v.type = PropertyType::kBool;
  v.b = b;
  return v;
}

std::optional<PropertyValue> VersionValue(std::string_view text) {
  std::optional<std::vector<int64_t>> parts = ParseVersion(text);
  if (!parts) return std::nullopt;
  PropertyValue v;
  v.type = PropertyType::kVersion;
  v.s = std::string(text);
  v.version = *std::move(parts);
  return v;
}

PropertyValue ListValue(std::vector<std::string> items) {
  PropertyValue v;
  v.type = PropertyType::kList;
  v.list = std::move(items);
  return v;
}

StatusOr<Properties> ParseProperties(const config::Reader& r, config::Element array, std::string_view where) {
  return ParseProperties(r, array, where, PropertyLimits{});
}

StatusOr<Properties> ParseProperties(const config::Reader& r, config::Element array, std::string_view where,
                                     const PropertyLimits& limits) {
  ASSIGN_OR_RETURN(config::Array a, r.Array(array, where));
  if (a.size() > limits.max_properties) {
    return r.Err(where, "more than " + std::to_string(limits.max_properties) + " properties");
  }
  Properties out;
  size_t index = 0;
  for (config::Element e : a) {
    std::string field = config::Index(where, index++);
    ASSIGN_OR_RETURN(auto named, ReadOne(r, e, field, limits));
    if (out.count(named.first) != 0) {
      return r.Err(config::Key(field, "name"), Quoted(named.first) + " is given twice");
    }
    out.emplace(std::move(named));
  }
  return out;
}

StatusOr<Properties> ParsePropertiesJson(std::string_view json) {
  return ParsePropertiesJson(json, PropertyLimits{});
}

StatusOr<Properties> ParsePropertiesJson(std::string_view json, const PropertyLimits& limits) {
  // Depth 3 is enough for [{"value": [..]}]; deeper documents are refused by the parser.
  config::Reader r("", 4, config::DocumentWords{.not_json = "not valid JSON", .top_level = "properties"});
  // An empty view may have no data at all; the parser copies from it.
  ASSIGN_OR_RETURN(config::Element root, r.Parse(json.empty() ? std::string_view("") : json));
  return ParseProperties(r, root, "properties", limits);
}

void WriteProperties(JsonWriter& w, const Properties& p) {
  w.BeginArray();
  for (const auto& [name, v] : p) {
    w.BeginObject().Key("name").String(name).Key("type").String(PropertyTypeName(v.type)).Key("value");
    switch (v.type) {
      case PropertyType::kString:
      case PropertyType::kVersion: w.String(v.s); break;
      case PropertyType::kInt: w.Int(v.i); break;
      case PropertyType::kFloat: w.Raw(FormatFloat(v.f)); break;
      case PropertyType::kBool: w.Bool(v.b); break;
      case PropertyType::kList:
        w.BeginArray();
        for (const std::string& item : v.list) w.String(item);
        w.EndArray();
        break;
    }
    w.EndObject();
  }
  w.EndArray();
}

StatusOr<std::pair<std::string, PropertyValue>> ParsePropertyArg(std::string_view arg) {
  return ParsePropertyArg(arg, PropertyLimits{});
}

StatusOr<std::pair<std::string, PropertyValue>> ParsePropertyArg(std::string_view arg,
                                                                 const PropertyLimits& limits) {
  size_t eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgument("property " + Quoted(arg) + ": expected NAME=VALUE");
  }
  std::string name(arg.substr(0, eq));
  std::string_view text = arg.substr(eq + 1);
  std::string field = "property " + Quoted(name);
  if (!IsValidPropertyName(name)) return InvalidArgument(field + ": expected a name like [a-z0-9_.-]{1,64}");
  if (text.size() > limits.max_value_bytes && !text.starts_with("list:")) {
    return InvalidArgument(field + ": longer than " + std::to_string(limits.max_value_bytes) + " bytes");
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) return InvalidArgument(field + ": not valid UTF-8");
  if (std::optional<int64_t> i = ParseIntText(text)) return std::make_pair(name, IntValue(*i));
  if (std::optional<double> f = ParseNumberText(text)) return std::make_pair(name, FloatValue(*f));
  if (text == "true" || text == "false") return std::make_pair(name, BoolValue(text == "true"));
  if (text.starts_with("version:")) {
    std::optional<PropertyValue> v = VersionValue(text.substr(8));
    if (!v) return InvalidArgument(field + ": " + std::string(kVersionWords));
    return std::make_pair(name, *std::move(v));
  }
  if (text.starts_with("list:")) {
    ASSIGN_OR_RETURN(PropertyValue v, ArgList(field, text.substr(5), limits));
    return std::make_pair(name, std::move(v));
  }
  return std::make_pair(name, StringValue(std::string(text)));
}

std::string PropertyToString(const PropertyValue& v) {
  switch (v.type) {
    case PropertyType::kString:
    case PropertyType::kVersion: return v.s;
    case PropertyType::kInt: return std::to_string(v.i);
    case PropertyType::kFloat: return FormatFloat(v.f);
    case PropertyType::kBool: return v.b ? "true" : "false";
    case PropertyType::kList: {
      std::string out = "[";
      for (size_t k = 0; k < v.list.size(); ++k) {
        if (k > 0) out += ',';
        out += v.list[k];
      }
      return out + "]";
    }
  }
  return "";
}

Properties MergeProperties(const Properties& reported, const Properties& operator_set) {
  Properties out = reported;
  for (const auto& [name, v] : operator_set) out.insert_or_assign(name, v);
  return out;
}

}  // namespace continuum::fleet
