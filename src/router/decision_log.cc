#include "router/decision_log.h"

#include <simdjson.h>

#include <ctime>
#include <filesystem>
#include <memory>

#include "common/json_writer.h"

namespace continuum::router {
namespace {

std::string IsoTime(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms < 0 && ms % 1000 != 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(((ms % 1000) + 1000) % 1000));
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

DecisionRecord RecordFromDecision(std::string request_id, std::chrono::system_clock::time_point time,
                                  const Request& request, const Decision& decision) {
  DecisionRecord r;
  r.request_id = std::move(request_id);
  r.time = time;
  r.model = request.model;
  r.version = request.version;
  r.policy = decision.policy;
  r.candidates = decision.candidates;
  r.choice = decision.choice;
  return r;
}

std::string DecisionRecordToJson(const DecisionRecord& r, std::string_view prev_hash) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("request_id").String(r.request_id);
  w.Key("time").String(IsoTime(r.time));
  w.Key("model").String(r.model);
  w.Key("version").Int(r.version);
  w.Key("policy").Raw(PolicyToJson(r.policy));
  w.Key("candidates").BeginArray();
  for (const auto& c : r.candidates) {
    w.BeginObject().Key("node").String(c.node).Key("predicted_ms").Double(c.predicted_ms);
    w.Key("cost").Double(c.cost).Key("energy").Double(c.energy_j).EndObject();
  }
  w.EndArray();
  w.Key("choice").String(r.choice);
  w.Key("fallback_step").Int(r.fallback_step);
  w.Key("outcome").String(r.outcome);
  if (!r.failures.empty()) {
    w.Key("failures").BeginArray();
    for (const auto& f : r.failures)
      w.BeginObject().Key("node").String(f.node).Key("error").String(f.error).EndObject();
    w.EndArray();
  }
  w.Key("prev_hash").String(prev_hash);
  w.EndObject();
  return out;
}

StatusOr<std::unique_ptr<DecisionLog>> DecisionLog::Open(const std::string& path) {
  auto log = std::make_unique<DecisionLog>();
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::string text = ReadFile(path);
    if (!text.empty()) {
      if (text.back() != '\n') {
        return FailedPrecondition("decision log " + path + ": last line is incomplete (no newline)");
      }
      RETURN_IF_ERROR(VerifyDecisionLog(text).WithContext(path));
      size_t start = text.rfind('\n', text.size() - 2);
      start = start == std::string::npos ? 0 : start + 1;
      log->prev_hash_ = Sha256Hex(std::string_view(text).substr(start, text.size() - 1 - start));
    }
  }
  log->file_.open(path, std::ios::binary | std::ios::app);
  if (!log->file_) return Internal("decision log " + path + ": cannot open for appending");
  log->to_file_ = true;
  return log;
}

Status DecisionLog::Append(const DecisionRecord& record) {
  std::lock_guard lock(mu_);
  std::string line = DecisionRecordToJson(record, prev_hash_);
  if (to_file_) {
    file_ << line << '\n';
    file_.flush();
    if (!file_) return Internal("decision log: write failed");
  } else {
    memory_ += line;
    memory_ += '\n';
  }
  prev_hash_ = Sha256Hex(line);
  return Status::Ok();
}

std::string DecisionLog::last_hash() const {
  std::lock_guard lock(mu_);
  return prev_hash_;
}

std::string DecisionLog::contents() const {
  std::lock_guard lock(mu_);
  return memory_;
}

Status VerifyDecisionLog(std::string_view contents) {
  simdjson::dom::parser parser;
  std::string prev(DecisionLog::kGenesisHash);
  size_t line_no = 0;
  while (!contents.empty()) {
    ++line_no;
    size_t nl = contents.find('\n');
    if (nl == std::string_view::npos) {
      return InvalidArgument("decision log line " + std::to_string(line_no) + ": incomplete (no newline)");
    }
    std::string_view line = contents.substr(0, nl);
    contents.remove_prefix(nl + 1);
    auto bad = [&](std::string_view what) {
      return InvalidArgument("decision log line " + std::to_string(line_no) + ": " + std::string(what));
    };
    simdjson::dom::element root;
    if (parser.parse(line.data(), line.size()).get(root) != simdjson::SUCCESS) return bad("not valid JSON");
    std::string_view h;
    if (root["prev_hash"].get_string().get(h) != simdjson::SUCCESS) return bad("prev_hash missing");
    if (h != prev) {
      return bad(line_no == 1 ? "prev_hash is not the genesis hash (all zeros)"
                              : "prev_hash does not match SHA-256 of line " + std::to_string(line_no - 1) +
                                    " (that line or this one was altered, or lines were removed)");
    }
    prev = Sha256Hex(line);
  }
  return Status::Ok();
}

Status VerifyDecisionLogFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("decision log " + path + ": no such file");
  return VerifyDecisionLog(ReadFile(path));
}

}  // namespace continuum::router
