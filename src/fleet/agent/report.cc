// The report body and the hub's answer (report.h).
#include "fleet/agent/report.h"

#include <cmath>

#include "common/config_reader.h"
#include "common/json_writer.h"

namespace continuum::fleet {
namespace {

void WriteModel(JsonWriter& w, const ModelReport& m) {
  w.BeginObject();
  w.Key("name").String(m.name);
  w.Key("digest").String(m.digest);
  w.Key("versions").BeginArray();
  for (int64_t v : m.versions) w.Int(v);
  w.EndArray();
  w.Key("ready").Bool(m.ready);
  w.Key("error").String(m.error);
  w.Key("since_ms").Int(m.since_ms);
  w.Key("success").Int(m.success);
  w.Key("failure").Int(m.failure);
  w.Key("duration_buckets").BeginArray();
  for (const auto& [le, count] : m.duration_buckets) {
    w.BeginArray();
    if (std::isinf(le)) {
      w.String("+Inf");
    } else {
      w.Double(le);
    }
    w.Int(count);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string NodeReportJson(const NodeReport& r) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("schema_version").Int(1);
  w.Key("address").String(r.address);
  w.Key("properties").Raw(r.properties_json.empty() ? "[]" : r.properties_json);
  w.Key("sequence").Int(r.sequence);
  w.Key("state").String(r.state);
  w.Key("message").String(r.message);
  w.Key("models").BeginArray();
  for (const ModelReport& m : r.models) WriteModel(w, m);
  w.EndArray();
  w.EndObject();
  return out;
}

StatusOr<int64_t> ParseReportAnswer(std::string_view json) {
  config::Reader r("hub's answer to the report: ", 16);
  config::Object o;
  RETURN_IF_ERROR(r.Parse(json, &o));
  ASSIGN_OR_RETURN(auto seq, r.Required(o, "", "sequence"));
  return r.Int(seq, "sequence", 0, INT64_MAX);
}

}  // namespace continuum::fleet
