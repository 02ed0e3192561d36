#include "common/config_reader.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace continuum::config {

std::string Key(std::string_view where, std::string_view key) {
  std::string out(where);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string Index(std::string_view where, size_t i) {
  return std::string(where) + "[" + std::to_string(i) + "]";
}

std::optional<Element> Find(Object o, std::string_view key) {
  Element e;
  if (o[key].get(e) != simdjson::SUCCESS) return std::nullopt;
  return e;
}

std::string FormatDouble(double v) {
  // to_chars with the general format and precision 6 writes what printf's "%g" does, at a
  // fraction of its cost (the rate-limit headers format three numbers per answer).
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  if (ec == std::errc()) return std::string(buf, end);
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

StatusOr<Element> Reader::Parse(std::string_view json) {
  if (json.data() == nullptr) json = "";  // simdjson copies from the pointer, even for 0 bytes
  if (parser_.max_depth() != max_depth_ || parser_.capacity() < json.size()) {
    if (parser_.allocate(json.size(), max_depth_) != simdjson::SUCCESS) {
      return Internal(Err("", "out of memory").message());
    }
  }
  Element root;
  if (auto err = parser_.parse(json.data(), json.size()).get(root); err != simdjson::SUCCESS) {
    return Err("", std::string(words_.not_json) + ": " + simdjson::error_message(err));
  }
  return root;
}

Status Reader::Parse(std::string_view json, config::Object* out) {
  ASSIGN_OR_RETURN(Element root, Parse(json));
  if (root.get_object().get(*out) != simdjson::SUCCESS) return Err(words_.top_level, words_.not_object);
  return Status::Ok();
}

StatusOr<config::Object> Reader::ParseObject(std::string_view json,
                                             std::initializer_list<std::string_view> known) {
  config::Object o;
  RETURN_IF_ERROR(Parse(json, &o));
  RETURN_IF_ERROR(CheckKeys(o, "", known));
  return o;
}

Status Reader::Err(std::string_view field, std::string_view what) const {
  std::string m = prefix_;
  if (!field.empty()) {
    m.append(field).append(": ");
  } else if (!m.empty() && m.back() == '.') {  // "settings." names the whole document "settings: "
    m.back() = ':';
    m.push_back(' ');
  }
  m.append(what);
  return InvalidArgument(std::move(m));
}

Status Reader::CheckKeys(config::Object o, std::string_view where,
                         std::initializer_list<std::string_view> known) const {
  for (auto [k, v] : o) {
    bool found = false;
    for (auto n : known) found = found || n == k;
    if (found) continue;
    std::string list;
    for (auto n : known) list.append(list.empty() ? "" : ", ").append(n);
    return Err(Key(where, k), "unknown field (known: " + list + ")");
  }
  return Status::Ok();
}

StatusOr<Element> Reader::Required(config::Object o, std::string_view where, std::string_view key) const {
  auto e = Find(o, key);
  if (!e) return Err(Key(where, key), "required");
  return *e;
}

StatusOr<int64_t> Reader::Int(Element e, std::string_view field, int64_t min, int64_t max) const {
  int64_t v;
  if (e.get_int64().get(v) != simdjson::SUCCESS) return Err(field, "expected an integer");
  if (v < min || v > max) {
    return Err(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v;
}

StatusOr<double> Reader::Double(Element e, std::string_view field, double min, double max) const {
  double v;  // simdjson converts integers too
  if (e.get_double().get(v) != simdjson::SUCCESS) return Err(field, "expected a number");
  if (!std::isfinite(v) || v < min || v > max) {
    if (std::isinf(max)) return Err(field, "must be a finite number >= " + FormatDouble(min));
    return Err(field, "must be between " + FormatDouble(min) + " and " + FormatDouble(max));
  }
  return v;
}

StatusOr<bool> Reader::Bool(Element e, std::string_view field) const {
  bool b;
  if (e.get_bool().get(b) != simdjson::SUCCESS) return Err(field, "expected true or false");
  return b;
}

StatusOr<std::string> Reader::String(Element e, std::string_view field, bool nonempty) const {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return Err(field, "expected a string");
  if (nonempty && s.empty()) return Err(field, "must not be empty");
  return std::string(s);
}

StatusOr<std::vector<std::string>> Reader::StringList(Element e, std::string_view field) const {
  config::Array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return Err(field, "expected an array of strings");
  std::vector<std::string> out;
  for (Element x : a) {
    std::string_view s;
    if (x.get_string().get(s) != simdjson::SUCCESS || s.empty()) {
      return Err(Index(field, out.size()), "expected a non-empty string");
    }
    out.emplace_back(s);
  }
  return out;
}

StatusOr<config::Object> Reader::Object(Element e, std::string_view field) const {
  config::Object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return Err(field, "expected an object");
  return o;
}

StatusOr<config::Array> Reader::Array(Element e, std::string_view field) const {
  config::Array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return Err(field, "expected an array");
  return a;
}

}  // namespace continuum::config
