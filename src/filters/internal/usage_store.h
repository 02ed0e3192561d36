// Durable usage for the metering filter: one row per tenant, UTC day, model and tier, and each
// tenant's billed units, in SQLite. The filter keeps the live figures in memory and saves the
// rows that changed from a background thread, so the I/O thread never waits on the disk.
// Thread-safety: every method may be called from any thread (calls are serialized).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace continuum::filters {

struct UsageRow {
  std::string tenant, day, model, tier;  // day: UTC "YYYY-MM-DD"
  uint64_t requests = 0;
  double units = 0, compute_ms = 0;
};

class UsageStore {
 public:
  // Opens (creating if needed) the database; ":memory:" for a private in-memory one.
  static StatusOr<std::unique_ptr<UsageStore>> Open(const std::string& path);
  ~UsageStore();
  UsageStore(const UsageStore&) = delete;
  UsageStore& operator=(const UsageStore&) = delete;

  StatusOr<std::vector<UsageRow>> LoadRows();
  StatusOr<std::map<std::string, double>> LoadBilled();  // tenant -> billed units
  // Writes the given rows and billed totals (absolute values, replacing what is stored) in one
  // transaction: all of it is saved or none.
  Status Save(const std::vector<UsageRow>& rows, const std::map<std::string, double>& billed);

 private:
  explicit UsageStore(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);

  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace continuum::filters
