// The agent's report to the hub (`POST /api/v1/nodes/{node}/report`, the fleet protocol):
//
//   {"schema_version": 1, "address", "properties": [...], "sequence", "state", "message",
//    "models": [{"name", "digest", "versions", "ready", "error", "since_ms", "success", "failure",
//                "duration_buckets": [[0.001, 10], ..., ["+Inf", 123]]}]}
//
// and the hub's answer {"sequence": N}. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace continuum::fleet {

struct ModelReport {
  std::string name;
  std::string digest;             // the package installed as this model now ("" when none)
  std::vector<int64_t> versions;  // the package's versions serve answers ready for
  bool ready = false;
  std::string error;     // the last install or removal error for this model
  int64_t since_ms = 0;  // when this digest was first seen ready
  int64_t success = 0, failure = 0;
  std::vector<std::pair<double, int64_t>> duration_buckets;  // cumulative; +Inf as infinity
  bool operator==(const ModelReport&) const = default;
};

struct NodeReport {
  std::string address;
  std::string properties_json = "[]";  // the properties array, already JSON
  int64_t sequence = 0;
  std::string state = "ok";  // ok | applying | expired | error
  std::string message;
  std::vector<ModelReport> models;
  bool operator==(const NodeReport&) const = default;
};

std::string NodeReportJson(const NodeReport& r);

// The hub's answer: its current desired sequence for the node. Fields other than "sequence" are
// ignored (a newer hub may add some).
StatusOr<int64_t> ParseReportAnswer(std::string_view json);

}  // namespace continuum::fleet
