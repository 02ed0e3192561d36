// The strict reader of every JSON configuration document (config.json, topology, a request's
// routing policy, filter settings, catalog entries and task settings, link scenarios, the device
// library's config): typed getters that check ranges, unknown fields refused, and every error
// naming where it is: "<prefix><a.b[2].c>: <what>".
//
//   config::Reader r("topology: ");
//   ASSIGN_OR_RETURN(config::Object o, r.ParseObject(json, {"schema_version", "nodes"}));
//   ASSIGN_OR_RETURN(auto v, r.Required(o, "", "schema_version"));
//   ASSIGN_OR_RETURN(int64_t version, r.Int(v, "schema_version", 1, 1000));
//   if (auto n = config::Find(o, "nodes")) { ... r.Array(*n, "nodes") ... config::Index("nodes", i) ... }
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::config {

using Element = simdjson::dom::element;
using Object = simdjson::dom::object;
using Array = simdjson::dom::array;

// Field paths: Key("a", "b") is "a.b", Key("", "b") is "b", Index("a", 2) is "a[2]".
std::string Key(std::string_view where, std::string_view key);
std::string Index(std::string_view where, size_t i);

// A member of `o`, nullopt when absent (an optional field).
std::optional<Element> Find(Object o, std::string_view key);

// Shortest "%g" form of a double, as range errors print their bounds.
std::string FormatDouble(double v);

// How Parse names a document that is not what it must be, for formats whose messages were fixed
// before they were read here: "<prefix><not_json>: <simdjson's reason>" when it does not parse,
// "<prefix><top_level>: <not_object>" (or "<prefix><not_object>" with no top_level name) when its
// top level is not an object. The words are string literals.
struct DocumentWords {
  std::string_view not_json = "not valid JSON";
  std::string_view top_level = "";
  std::string_view not_object = "expected an object";
};

class Reader {
 public:
  // `prefix` opens every message ("topology: ", "settings."); `max_depth` bounds the nesting
  // Parse accepts; `words` name a document that does not parse or is not an object.
  explicit Reader(std::string prefix, size_t max_depth = simdjson::DEFAULT_MAX_DEPTH,
                  DocumentWords words = {})
      : prefix_(std::move(prefix)), max_depth_(max_depth), words_(words) {}
  Reader(std::string prefix, DocumentWords words, size_t max_depth = simdjson::DEFAULT_MAX_DEPTH)
      : Reader(std::move(prefix), max_depth, words) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Parses `json` into a document the reader owns until the next Parse: "not valid JSON: ..."
  // (DocumentWords::not_json).
  StatusOr<Element> Parse(std::string_view json);
  // Parse, with an object required at the top level: "expected an object" (DocumentWords).
  Status Parse(std::string_view json, config::Object* out);
  // Parse, with an object at the top level that holds only the `known` fields (CheckKeys).
  StatusOr<config::Object> ParseObject(std::string_view json, std::initializer_list<std::string_view> known);

  // "<prefix><field>: <what>"; with an empty field, "<prefix><what>" (a prefix ending in '.' then
  // ends in ": ": "settings: expected an object").
  Status Err(std::string_view field, std::string_view what) const;

  // Refuses a member of `o` (the object at path `where`) that is not in `known`:
  // "<where>.<key>: unknown field (known: a, b, c)".
  Status CheckKeys(config::Object o, std::string_view where,
                   std::initializer_list<std::string_view> known) const;
  // The member `key` of the object at `where`; "<where>.<key>: required" when absent.
  StatusOr<Element> Required(config::Object o, std::string_view where, std::string_view key) const;

  // Typed getters; `field` is the path of `e`, named by every error.
  // Int: an integer in [min, max]. Double: a finite number in [min, max] (integers too); a max of
  // +infinity leaves it unbounded above.
  StatusOr<int64_t> Int(Element e, std::string_view field, int64_t min, int64_t max) const;
  StatusOr<double> Double(Element e, std::string_view field, double min, double max) const;
  StatusOr<bool> Bool(Element e, std::string_view field) const;
  StatusOr<std::string> String(Element e, std::string_view field, bool nonempty = false) const;
  // An array of non-empty strings.
  StatusOr<std::vector<std::string>> StringList(Element e, std::string_view field) const;
  StatusOr<config::Object> Object(Element e, std::string_view field) const;
  StatusOr<config::Array> Array(Element e, std::string_view field) const;

 private:
  std::string prefix_;
  size_t max_depth_;
  DocumentWords words_;
  simdjson::dom::parser parser_;
};

}  // namespace continuum::config
