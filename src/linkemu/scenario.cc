// Scenario files: parsing and validation. Every error names the field it is about.
#include <simdjson.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/config_reader.h"
#include "linkemu/linkemu.h"

namespace continuum::linkemu {

namespace {

using config::Find;
using config::Key;
using config::Reader;

constexpr double kUnbounded = std::numeric_limits<double>::infinity();

StatusOr<LinkProfile> ParseProfile(const Reader& r, config::Element e, const std::string& where) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(r.CheckKeys(o, where, {"delay_ms", "jitter_ms", "bandwidth_kbps", "loss", "burst_bytes"}));
  LinkProfile p;
  for (auto [key, value] : {std::pair{"delay_ms", &p.delay_ms}, std::pair{"jitter_ms", &p.jitter_ms},
                            std::pair{"bandwidth_kbps", &p.bandwidth_kbps}}) {
    if (auto v = Find(o, key)) {
      ASSIGN_OR_RETURN(*value, r.Double(*v, Key(where, key), 0, kUnbounded));
    }
  }
  if (auto v = Find(o, "loss")) {
    ASSIGN_OR_RETURN(p.loss, r.Double(*v, Key(where, "loss"), 0, 1));  // a probability
  }
  if (auto v = Find(o, "burst_bytes")) {
    ASSIGN_OR_RETURN(p.burst_bytes, r.Int(*v, Key(where, "burst_bytes"), 0, INT64_MAX));
  }
  return p;
}

StatusOr<Phase> ParsePhase(const Reader& r, config::Element e, const std::string& where) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(r.CheckKeys(o, where, {"name", "duration_s", "partition", "partition_mode", "up", "down"}));
  Phase p;
  ASSIGN_OR_RETURN(config::Element v, r.Required(o, where, "name"));
  ASSIGN_OR_RETURN(p.name, r.String(v, Key(where, "name")));
  ASSIGN_OR_RETURN(v, r.Required(o, where, "duration_s"));
  ASSIGN_OR_RETURN(p.duration_s, r.Double(v, Key(where, "duration_s"), 0, kUnbounded));
  if (p.duration_s <= 0) return r.Err(Key(where, "duration_s"), "must be > 0");
  if (auto x = Find(o, "partition")) {
    ASSIGN_OR_RETURN(p.partition, r.Bool(*x, Key(where, "partition")));
  }
  if (auto x = Find(o, "partition_mode")) {
    ASSIGN_OR_RETURN(std::string s, r.String(*x, Key(where, "partition_mode")));
    if (s == "stall") {
      p.partition_mode = PartitionMode::kStall;
    } else if (s == "reset") {
      p.partition_mode = PartitionMode::kReset;
    } else {
      return r.Err(Key(where, "partition_mode"), "expected \"stall\" or \"reset\"");
    }
  }
  if (auto x = Find(o, "up")) {
    ASSIGN_OR_RETURN(p.up, ParseProfile(r, *x, Key(where, "up")));
  }
  if (auto x = Find(o, "down")) {
    ASSIGN_OR_RETURN(p.down, ParseProfile(r, *x, Key(where, "down")));
  }
  return p;
}

}  // namespace

StatusOr<Scenario> ParseScenario(std::string_view json) {
  Reader r("scenario: ", {.top_level = "(root)"});
  ASSIGN_OR_RETURN(config::Object o,
                   r.ParseObject(json, {"schema_version", "seed", "loop", "phases", "description"}));
  Scenario sc;
  ASSIGN_OR_RETURN(config::Element v, r.Required(o, "", "schema_version"));
  ASSIGN_OR_RETURN(int64_t version, r.Int(v, "schema_version", INT64_MIN, INT64_MAX));
  if (version != 1) {
    return r.Err("schema_version",
                 "unsupported version " + std::to_string(version) + " (this build reads 1)");
  }
  sc.schema_version = 1;
  if (auto x = Find(o, "seed")) {
    if (x->get_uint64().get(sc.seed) != simdjson::SUCCESS) return r.Err("seed", "expected an integer >= 0");
  }
  if (auto x = Find(o, "loop")) {
    ASSIGN_OR_RETURN(sc.loop, r.Bool(*x, "loop"));
  }
  if (auto x = Find(o, "description")) {
    RETURN_IF_ERROR(r.String(*x, "description").status());
  }
  ASSIGN_OR_RETURN(v, r.Required(o, "", "phases"));
  ASSIGN_OR_RETURN(auto phases, r.Array(v, "phases"));
  for (config::Element p : phases) {
    ASSIGN_OR_RETURN(Phase phase, ParsePhase(r, p, config::Index("phases", sc.phases.size())));
    sc.phases.push_back(std::move(phase));
  }
  if (sc.phases.empty()) return r.Err("phases", "must hold at least one phase");
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
