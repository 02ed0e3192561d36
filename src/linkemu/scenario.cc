// Scenario files: parsing and validation. Every error names the field it is about.
#include <simdjson.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "linkemu/linkemu.h"

namespace continuum::linkemu {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Status FieldError(const std::string& field, const std::string& what) {
  return InvalidArgument("scenario: " + field + ": " + what);
}

Status CheckKnownFields(object o, const std::string& where, std::initializer_list<std::string_view> known) {
  for (auto [key, value] : o) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || key == k;
    if (!ok)
      return FieldError(where.empty() ? std::string(key) : where + "." + std::string(key), "unknown field");
  }
  return Status::Ok();
}

StatusOr<double> NonNegative(element e, const std::string& field) {
  double v = 0;
  if (e.get_double().get(v) != simdjson::SUCCESS) return FieldError(field, "expected a number");
  if (!std::isfinite(v) || v < 0) return FieldError(field, "must be a finite number >= 0");
  return v;
}

StatusOr<LinkProfile> ParseProfile(element e, const std::string& where) {
  object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return FieldError(where, "expected an object");
  RETURN_IF_ERROR(
      CheckKnownFields(o, where, {"delay_ms", "jitter_ms", "bandwidth_kbps", "loss", "burst_bytes"}));
  LinkProfile p;
  element v;
  if (o["delay_ms"].get(v) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(p.delay_ms, NonNegative(v, where + ".delay_ms"));
  }
  if (o["jitter_ms"].get(v) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(p.jitter_ms, NonNegative(v, where + ".jitter_ms"));
  }
  if (o["bandwidth_kbps"].get(v) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(p.bandwidth_kbps, NonNegative(v, where + ".bandwidth_kbps"));
  }
  if (o["loss"].get(v) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(p.loss, NonNegative(v, where + ".loss"));
    if (p.loss > 1) return FieldError(where + ".loss", "must be a probability in [0, 1]");
  }
  if (o["burst_bytes"].get(v) == simdjson::SUCCESS) {
    int64_t b = 0;
    if (v.get_int64().get(b) != simdjson::SUCCESS || b < 0) {
      return FieldError(where + ".burst_bytes", "expected an integer >= 0");
    }
    p.burst_bytes = b;
  }
  return p;
}

StatusOr<Phase> ParsePhase(element e, const std::string& where) {
  object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return FieldError(where, "expected an object");
  RETURN_IF_ERROR(
      CheckKnownFields(o, where, {"name", "duration_s", "partition", "partition_mode", "up", "down"}));
  Phase p;
  element v;
  std::string_view s;
  if (o["name"].get(v) != simdjson::SUCCESS) return FieldError(where + ".name", "missing");
  if (v.get_string().get(s) != simdjson::SUCCESS) return FieldError(where + ".name", "expected a string");
  p.name = std::string(s);
  if (o["duration_s"].get(v) != simdjson::SUCCESS) return FieldError(where + ".duration_s", "missing");
  ASSIGN_OR_RETURN(p.duration_s, NonNegative(v, where + ".duration_s"));
  if (p.duration_s <= 0) return FieldError(where + ".duration_s", "must be > 0");
  if (o["partition"].get(v) == simdjson::SUCCESS) {
    if (v.get_bool().get(p.partition) != simdjson::SUCCESS) {
      return FieldError(where + ".partition", "expected true or false");
    }
  }
  if (o["partition_mode"].get(v) == simdjson::SUCCESS) {
    if (v.get_string().get(s) != simdjson::SUCCESS)
      return FieldError(where + ".partition_mode", "expected a string");
    if (s == "stall") {
      p.partition_mode = PartitionMode::kStall;
    } else if (s == "reset") {
      p.partition_mode = PartitionMode::kReset;
    } else {
      return FieldError(where + ".partition_mode", "expected \"stall\" or \"reset\"");
    }
  }
  if (o["up"].get(v) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(p.up, ParseProfile(v, where + ".up"));
  }
  if (o["down"].get(v) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(p.down, ParseProfile(v, where + ".down"));
  }
  return p;
}

}  // namespace

StatusOr<Scenario> ParseScenario(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  element root;
  if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS) {
    return InvalidArgument(std::string("scenario: not valid JSON: ") + simdjson::error_message(err));
  }
  object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) return FieldError("(root)", "expected an object");
  RETURN_IF_ERROR(CheckKnownFields(o, "", {"schema_version", "seed", "loop", "phases", "description"}));
  Scenario sc;
  element v;
  int64_t version = 0;
  if (o["schema_version"].get(v) != simdjson::SUCCESS) return FieldError("schema_version", "missing");
  if (v.get_int64().get(version) != simdjson::SUCCESS)
    return FieldError("schema_version", "expected an integer");
  if (version != 1)
    return FieldError("schema_version",
                      "unsupported version " + std::to_string(version) + " (this build reads 1)");
  sc.schema_version = 1;
  if (o["seed"].get(v) == simdjson::SUCCESS) {
    if (v.get_uint64().get(sc.seed) != simdjson::SUCCESS)
      return FieldError("seed", "expected an integer >= 0");
  }
  if (o["loop"].get(v) == simdjson::SUCCESS) {
    if (v.get_bool().get(sc.loop) != simdjson::SUCCESS) return FieldError("loop", "expected true or false");
  }
  if (o["description"].get(v) == simdjson::SUCCESS && !v.is_string()) {
    return FieldError("description", "expected a string");
  }
  simdjson::dom::array phases;
  if (o["phases"].get(v) != simdjson::SUCCESS) return FieldError("phases", "missing");
  if (v.get_array().get(phases) != simdjson::SUCCESS) return FieldError("phases", "expected an array");
  size_t i = 0;
  for (element p : phases) {
    ASSIGN_OR_RETURN(Phase phase, ParsePhase(p, "phases[" + std::to_string(i) + "]"));
    sc.phases.push_back(std::move(phase));
    ++i;
  }
  if (sc.phases.empty()) return FieldError("phases", "must hold at least one phase");
  return sc;
}

StatusOr<Scenario> LoadScenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open scenario file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  StatusOr<Scenario> sc = ParseScenario(ss.str());
  if (!sc.ok()) return sc.status().WithContext(path);
  return sc;
}

}  // namespace continuum::linkemu
