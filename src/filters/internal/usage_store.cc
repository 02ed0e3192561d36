#include "filters/internal/usage_store.h"

#include <sqlite3.h>

#include <algorithm>

#include "filters/internal/sqlite_util.h"

namespace continuum::filters {

namespace {

Status DbError(sqlite3* db, std::string_view what) {
  return Internal("usage database: " + std::string(what) + ": " + sqlite3_errmsg(db));
}

}  // namespace

StatusOr<std::unique_ptr<UsageStore>> UsageStore::Open(const std::string& path) {
  ASSIGN_OR_RETURN(sqlite3 * db, OpenSqlite(path, "usage database"));
  std::unique_ptr<UsageStore> store(new UsageStore(db));
  RETURN_IF_ERROR(store->Exec(
      "CREATE TABLE IF NOT EXISTS usage (tenant TEXT NOT NULL, day TEXT NOT NULL, model TEXT NOT NULL, "
      "tier TEXT NOT NULL, requests INTEGER NOT NULL, units REAL NOT NULL, compute_ms REAL NOT NULL, "
      "PRIMARY KEY (tenant, day, model, tier))"));
  RETURN_IF_ERROR(
      store->Exec("CREATE TABLE IF NOT EXISTS usage_billed (tenant TEXT PRIMARY KEY, units REAL NOT NULL)"));
  return store;
}

UsageStore::~UsageStore() { sqlite3_close(db_); }

Status UsageStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal("usage database: " + why);
  }
  return Status::Ok();
}

StatusOr<std::vector<UsageRow>> UsageStore::LoadRows() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT tenant, day, model, tier, requests, units, compute_ms FROM usage");
  if (!s.ok()) return DbError(db_, "reading usage");
  std::vector<UsageRow> rows;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    rows.push_back(UsageRow{s.ColText(0), s.ColText(1), s.ColText(2), s.ColText(3),
                            static_cast<uint64_t>(std::max<int64_t>(0, s.ColInt(4))), s.ColReal(5),
                            s.ColReal(6)});
  }
  if (rc != SQLITE_DONE) return DbError(db_, "reading usage");
  return rows;
}

StatusOr<std::map<std::string, double>> UsageStore::LoadBilled() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT tenant, units FROM usage_billed");
  if (!s.ok()) return DbError(db_, "reading billed units");
  std::map<std::string, double> billed;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) billed[s.ColText(0)] = s.ColReal(1);
  if (rc != SQLITE_DONE) return DbError(db_, "reading billed units");
  return billed;
}

Status UsageStore::Save(const std::vector<UsageRow>& rows, const std::map<std::string, double>& billed) {
  std::lock_guard lock(mu_);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](std::string_view what) {
    Status st = DbError(db_, what);
    (void)Exec("ROLLBACK");
    return st;
  };
  {
    Stmt u(db_,
           "INSERT INTO usage (tenant, day, model, tier, requests, units, compute_ms) VALUES (?,?,?,?,?,?,?) "
           "ON CONFLICT (tenant, day, model, tier) DO UPDATE SET requests = excluded.requests, "
           "units = excluded.units, compute_ms = excluded.compute_ms");
    if (!u.ok()) return fail("saving usage");
    for (const auto& r : rows) {
      u.Text(1, r.tenant).Text(2, r.day).Text(3, r.model).Text(4, r.tier);
      u.Int(5, static_cast<int64_t>(r.requests)).Real(6, r.units).Real(7, r.compute_ms);
      if (u.Step() != SQLITE_DONE) return fail("saving usage");
      u.Reset();
    }
    Stmt b(db_,
           "INSERT INTO usage_billed (tenant, units) VALUES (?,?) "
           "ON CONFLICT (tenant) DO UPDATE SET units = excluded.units");
    if (!b.ok()) return fail("saving billed units");
    for (const auto& [tenant, units] : billed) {
      b.Text(1, tenant).Real(2, units);
      if (b.Step() != SQLITE_DONE) return fail("saving billed units");
      b.Reset();
    }
  }
  if (Status st = Exec("COMMIT"); !st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  return Status::Ok();
}

}  // namespace continuum::filters
