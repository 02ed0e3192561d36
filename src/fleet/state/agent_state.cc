// The agent's persistent state file (desired_state.h: AgentState): JSON, written atomically.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "common/config_reader.h"
#include "common/json_writer.h"
#include "fleet/state/desired_state.h"

namespace continuum::fleet {
namespace {

namespace fs = std::filesystem;

StatusOr<std::string> Field(const config::Reader& r, config::Object o, std::string_view where,
                            std::string_view key, int64_t max_bytes, bool nonempty) {
  ASSIGN_OR_RETURN(auto e, r.Required(o, where, key));
  const std::string field = config::Key(where, key);
  ASSIGN_OR_RETURN(std::string s, r.String(e, field, nonempty));
  if (static_cast<int64_t>(s.size()) > max_bytes)
    return r.Err(field, "longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

StatusOr<InstalledModel> ParseInstalled(const config::Reader& r, config::Element e, const std::string& where,
                                        const AgentStateLimits& limits) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(r.CheckKeys(o, where, {"model", "digest", "package", "deployment", "since_ms"}));
  InstalledModel m;
  ASSIGN_OR_RETURN(m.model, Field(r, o, where, "model", 128, true));
  if (!ValidModelName(m.model))
    return r.Err(config::Key(where, "model"), Quoted(m.model) + " is not a model name");
  ASSIGN_OR_RETURN(m.digest, Field(r, o, where, "digest", 71, true));
  ASSIGN_OR_RETURN(m.package, Field(r, o, where, "package", limits.max_field_bytes, false));
  ASSIGN_OR_RETURN(m.deployment, Field(r, o, where, "deployment", limits.max_field_bytes, false));
  ASSIGN_OR_RETURN(auto since, r.Required(o, where, "since_ms"));
  ASSIGN_OR_RETURN(m.since_ms, r.Int(since, config::Key(where, "since_ms"), 0, INT64_MAX));
  return m;
}

Status SyncFolder(const fs::path& folder) {
  int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FailedPrecondition("cannot open " + folder.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return FailedPrecondition("cannot sync " + folder.string() + ": " + std::strerror(err));
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FailedPrecondition("cannot write " + path.string() + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

std::string AgentStateJson(const AgentState& s) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("schema_version").Int(1);
  w.Key("highest_sequence").Int(s.highest_sequence);
  w.Key("payload_sha256").String(s.payload_sha256);
  w.Key("envelope").String(s.envelope);
  w.Key("installed").BeginArray();
  for (const InstalledModel& m : s.installed) {
    w.BeginObject();
    w.Key("model").String(m.model);
    w.Key("digest").String(m.digest);
    w.Key("package").String(m.package);
    w.Key("deployment").String(m.deployment);
    w.Key("since_ms").Int(m.since_ms);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  out += '\n';
  return out;
}

StatusOr<AgentState> ParseAgentState(std::string_view json, const AgentStateLimits& limits) {
  config::Reader r("agent state: ", 8);
  ASSIGN_OR_RETURN(config::Object o, r.ParseObject(json, {"schema_version", "highest_sequence",
                                                          "payload_sha256", "envelope", "installed"}));
  ASSIGN_OR_RETURN(auto version, r.Required(o, "", "schema_version"));
  RETURN_IF_ERROR(r.Int(version, "schema_version", 1, 1).status());
  AgentState s;
  ASSIGN_OR_RETURN(auto seq, r.Required(o, "", "highest_sequence"));
  ASSIGN_OR_RETURN(s.highest_sequence, r.Int(seq, "highest_sequence", 0, INT64_MAX));
  ASSIGN_OR_RETURN(s.payload_sha256, Field(r, o, "", "payload_sha256", 64, false));
  ASSIGN_OR_RETURN(s.envelope, Field(r, o, "", "envelope", limits.max_envelope_bytes, false));
  ASSIGN_OR_RETURN(auto installed, r.Required(o, "", "installed"));
  ASSIGN_OR_RETURN(config::Array a, r.Array(installed, "installed"));
  if (static_cast<int64_t>(a.size()) > limits.max_installed)
    return r.Err("installed", "more than " + std::to_string(limits.max_installed) + " models");
  size_t i = 0;
  for (config::Element e : a) {
    const std::string where = config::Index("installed", i++);
    ASSIGN_OR_RETURN(InstalledModel m, ParseInstalled(r, e, where, limits));
    for (const InstalledModel& prev : s.installed)
      if (prev.model == m.model) return r.Err(where, "model " + Quoted(m.model) + " listed twice");
    s.installed.push_back(std::move(m));
  }
  return s;
}

Status SaveAgentState(const fs::path& path, const AgentState& s) {
  const std::string bytes = AgentStateJson(s);
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return FailedPrecondition("cannot create " + tmp.string() + ": " + std::strerror(errno));
  Status st = WriteAll(fd, bytes, tmp);
  if (st.ok() && ::fsync(fd) != 0)
    st = FailedPrecondition("cannot sync " + tmp.string() + ": " + std::strerror(errno));
  ::close(fd);
  std::error_code ec;
  if (st.ok()) {
    fs::rename(tmp, path, ec);
    if (ec)
      st = FailedPrecondition("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
  if (!st.ok()) {
    fs::remove(tmp, ec);
    return st;
  }
  return SyncFolder(path.parent_path());
}

StatusOr<std::optional<AgentState>> LoadAgentState(const fs::path& path, int64_t max_bytes) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (ec) return FailedPrecondition("cannot read " + path.string() + ": " + ec.message());
    return std::optional<AgentState>();
  }
  const auto size = fs::file_size(path, ec);
  if (ec) return FailedPrecondition("cannot read " + path.string() + ": " + ec.message());
  if (static_cast<int64_t>(size) > max_bytes)
    return PayloadTooLarge(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size)))
    return FailedPrecondition("cannot read " + path.string());
  auto s = ParseAgentState(bytes);
  if (!s.ok()) return s.status().WithContext(path.string());
  return std::optional<AgentState>(std::move(*s));
}

}  // namespace continuum::fleet
