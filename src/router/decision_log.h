// Append-only decision log: one JSON object per line, chained by SHA-256.
//
// {"request_id":"r-17","time":"2026-11-23T18:40:00.123Z","model":"resnet50","version":1,
//  "policy":{"residency":"eu"},
//  "candidates":[{"node":"edge-paris","predicted_ms":12.1,"cost":0.0001,"energy":0.06}],
//  "choice":"edge-paris","fallback_step":0,"outcome":"ok",
//  "failures":[{"node":"edge-lyon","error":"TLS handshake with 10.0.0.8:8443 failed: certificate
//               verify failed: certificate has expired"}],
//  "prev_hash":"<64 hex: SHA-256 of the previous line's bytes, without its newline>"}
//
// The first line's prev_hash is 64 zeros. `fallback_step` is 0 when the choice served the
// request, k when the k-th fallback did, -1 for the hedge. `failures` (only when an attempt failed)
// says why each node that was tried did not serve: what ejects a node is on record. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "router/router.h"

namespace continuum::router {

struct DecisionRecord {
  std::string request_id;
  std::chrono::system_clock::time_point time;
  std::string model;
  int64_t version = 0;
  Policy policy;
  std::vector<Candidate> candidates;
  std::string choice;  // the node that was dispatched to last (empty when none)
  int fallback_step = 0;
  std::string
      outcome;  // "ok", "failed", "cancelled" (the client went away), "no_candidate", or an error text
  struct Failure {
    std::string node, error;
  };
  std::vector<Failure> failures;  // the attempts that failed, in order
};

// Fills a record from a Decision; the caller sets fallback_step, choice (if a fallback served)
// and outcome.
DecisionRecord RecordFromDecision(std::string request_id, std::chrono::system_clock::time_point time,
                                  const Request& request, const Decision& decision);

// Serializes one record (no newline) with the given prev_hash.
std::string DecisionRecordToJson(const DecisionRecord& r, std::string_view prev_hash);

class DecisionLog {
 public:
  static constexpr std::string_view kGenesisHash =
      "0000000000000000000000000000000000000000000000000000000000000000";

  // Opens (creating or appending to) `path`; the chain continues from the file's last line.
  static StatusOr<std::unique_ptr<DecisionLog>> Open(const std::string& path);
  // A log kept in memory only (tests, or a gateway without a log file).
  DecisionLog() = default;

  Status Append(const DecisionRecord& record);
  std::string last_hash() const;
  // The in-memory copy of lines appended through this object (memory logs only).
  std::string contents() const;

 private:
  mutable std::mutex mu_;
  std::string prev_hash_{kGenesisHash};
  std::ofstream file_;
  bool to_file_ = false;
  std::string memory_;
};

// Checks every line's prev_hash against the SHA-256 of the line before. Ok, or
// InvalidArgument("decision log line N: ...") naming the first broken line (1-based).
Status VerifyDecisionLog(std::string_view contents);
Status VerifyDecisionLogFile(const std::string& path);

}  // namespace continuum::router
