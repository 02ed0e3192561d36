#include "packages/provenance.h"

#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include "common/json_writer.h"

namespace continuum::packages {

std::string InstallRecordJson(const InstallRecord& r) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("created_at")
      .String(r.created_at)
      .Key("digest")
      .String(r.digest)
      .Key("installed_at")
      .String(r.installed_at)
      .Key("max_version")
      .Int(r.max_version)
      .Key("previous")
      .String(r.previous)
      .Key("reason")
      .String(r.reason)
      .Key("reference")
      .String(r.reference)
      .Key("variant")
      .String(r.variant)
      .EndObject();
  return out;
}

StatusOr<InstallRecord> ParseInstallRecord(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o))
    return InvalidArgument("the install record is not a JSON object");
  InstallRecord r;
  std::pair<const char*, std::string*> fields[] = {
      {"created_at", &r.created_at}, {"digest", &r.digest}, {"installed_at", &r.installed_at},
      {"previous", &r.previous},     {"reason", &r.reason}, {"reference", &r.reference},
      {"variant", &r.variant},
  };
  for (auto& [key, dst] : fields) {
    std::string_view v;
    if (o[key].get(v))
      return InvalidArgument(std::string("the install record has no string \"") + key + "\"");
    *dst = std::string(v);
  }
  if (o["max_version"].get(r.max_version))
    return InvalidArgument("the install record has no integer \"max_version\"");
  return r;
}

StatusOr<InstallRecord> ReadInstallRecord(const std::filesystem::path& repository, const std::string& model,
                                          int64_t max_bytes) {
  std::filesystem::path path = repository / model / std::string(kInstallRecordFile);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound("model " + Quoted(model) + " was not installed from a package");
  if (static_cast<int64_t>(size) > max_bytes) {
    return PayloadTooLarge(Quoted(path.string()) + " is larger than the limit of " +
                           std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) return NotFound("cannot read " + Quoted(path.string()));
  auto r = ParseInstallRecord(ss.str());
  if (!r.ok()) return r.status().WithContext(Quoted(path.string()));
  return r;
}

}  // namespace continuum::packages
