// The PostgreSQL backend: several hub replicas share one database. A small pool of connections
// (each used by one thread at a time); a call whose connection dropped (the server restarted) is
// run once more on a fresh connection. Every write is one statement or one short transaction whose
// WHERE clause carries the revision check, so concurrent replicas serialize on row locks
// (READ COMMITTED re-checks the WHERE clause against the newest row version) and never lose a write.
#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <vector>

#include "common/thread_annotations.h"
#include "fleet/store/internal.h"

namespace continuum::fleet::store_internal {

namespace {

std::string Trimmed(const char* s) {
  std::string m = s ? s : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

Status PgError(PGconn* c, const PGresult* r, std::string_view what) {
  const std::string detail = Trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(c));
  const std::string m = "postgresql: " + std::string(what) + ": " + (detail.empty() ? "failed" : detail);
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (PQstatus(c) != CONNECTION_OK || state == nullptr) return Unavailable(m);
  const std::string_view s(state);
  if (s.starts_with("08") || s.starts_with("57P") || s == "55P03")
    return Unavailable(m);                                              // gone, shut down, locked
  if (s == "40001" || s == "40P01" || s == "23505") return Aborted(m);  // serialization, deadlock, duplicate
  if (s == "54000") return PayloadTooLarge(m);
  if (s.starts_with("22")) return InvalidArgument(m);  // data exception (e.g. bad encoding)
  return Internal(m);
}

// A query's result; the values are text.
class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r, &PQclear) {}
  const PGresult* get() const { return r_.get(); }
  int size() const { return PQntuples(r_.get()); }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col), PQgetlength(r_.get(), row, col));
  }
  int64_t Int(int row, int col) const {
    const char* v = PQgetvalue(r_.get(), row, col);
    int64_t x = 0;
    std::from_chars(v, v + PQgetlength(r_.get(), row, col), x);
    return x;
  }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

// Runs `sql` with text parameters $1, $2, ... (a parameter's text must not hold NUL: the checks in
// internal.h refuse it before).
StatusOr<Rows> Query(PGconn* c, const char* sql, const std::vector<std::string>& params,
                     std::string_view what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  Rows rows(
      PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  const ExecStatusType st = rows.get() ? PQresultStatus(rows.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgError(c, rows.get(), what);
  return rows;
}

Status Exec(PGconn* c, const std::string& sql, std::string_view what) {
  Rows rows(PQexec(c, sql.c_str()));
  const ExecStatusType st = rows.get() ? PQresultStatus(rows.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgError(c, rows.get(), what);
  return Status::Ok();
}

std::string Str(int64_t v) { return std::to_string(v); }
std::string Str(std::string_view v) { return std::string(v); }

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL, "
    "revision BIGINT NOT NULL, updated_ms BIGINT NOT NULL, PRIMARY KEY (kind, name))",
    "CREATE TABLE IF NOT EXISTS sequences (node TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (id BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, subject TEXT NOT NULL, "
    "kind TEXT NOT NULL, reason TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_by_subject ON events (subject, id)",
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms BIGINT NOT "
    "NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "INSERT INTO counters (name, value) VALUES ('changes', 0), ('events', 0) ON CONFLICT DO NOTHING",
};

// The change counter moves with every document write, in the same statement (a data-modifying
// CTE runs exactly once, whether or not the outer query reads it).
#define BUMP_CHANGES_IF_D                                                                            \
  "c AS (UPDATE counters SET value = value + 1 WHERE name = 'changes' AND EXISTS (SELECT 1 FROM d) " \
  "RETURNING 1) "

class PgStore final : public Store {
 public:
  PgStore(std::string uri, const StoreOptions& o) : uri_(std::move(uri)), o_(o) {}
  ~PgStore() override {
    MutexLock lock(mu_);
    for (PGconn* c : idle_) PQfinish(c);
  }

  Status Init();
  StatusOr<std::optional<Doc>> Get(DocKind kind, std::string_view name) override;
  StatusOr<std::vector<Doc>> List(DocKind kind) override;
  StatusOr<int64_t> Put(DocKind kind, std::string_view name, std::string_view json, int64_t expected_revision,
                        int64_t now_ms) override;
  StatusOr<int64_t> Upsert(DocKind kind, std::string_view name, std::string_view json,
                           int64_t now_ms) override;
  Status Delete(DocKind kind, std::string_view name, int64_t expected_revision) override;
  StatusOr<int64_t> NextSequence(std::string_view node) override;
  StatusOr<int64_t> AppendEvent(const Event& e) override;
  StatusOr<std::vector<Event>> Events(int64_t after_id, int64_t limit, std::string_view subject) override;
  StatusOr<bool> TryLease(std::string_view lease, std::string_view holder, int64_t now_ms,
                          int64_t ttl_ms) override;
  Status ReleaseLease(std::string_view lease, std::string_view holder) override;
  StatusOr<int64_t> ChangeCounter() override;
  std::string_view backend() const override { return "postgresql"; }

 private:
  StatusOr<PGconn*> Connect();
  StatusOr<PGconn*> Acquire() EXCLUDES(mu_);
  void Give(PGconn* c, bool dropped) EXCLUDES(mu_);
  // Runs `fn` on a pooled connection; when the connection dropped during the call, once more on a
  // fresh one (the idle ones are closed too: after a server restart they are all dead).
  template <class T>
  StatusOr<T> Run(const std::function<StatusOr<T>(PGconn*)>& fn);
  // Runs one query on a pooled connection (with the retry of Run).
  StatusOr<Rows> Run1(const char* sql, std::vector<std::string> params, std::string_view what);
  StatusOr<std::optional<int64_t>> Revision(DocKind kind, std::string_view name);

  const std::string uri_;
  const StoreOptions o_;
  Mutex mu_;
  std::condition_variable freed_;
  std::vector<PGconn*> idle_ GUARDED_BY(mu_);
  int open_ GUARDED_BY(mu_) = 0;  // idle and in use
};

StatusOr<PGconn*> PgStore::Connect() {
  const std::string timeout = std::to_string(o_.pg_connect_timeout_s);
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "continuum-hub", "UTF8", uri_.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c == nullptr) return Unavailable("postgresql: cannot connect: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    Status s = Unavailable("postgresql: cannot connect: " + Trimmed(PQerrorMessage(c)));
    PQfinish(c);
    return s;
  }
  // The URI's own password never appears in an error: only libpq's messages do.
  const std::string setup =
      "SET search_path TO \"" + o_.pg_schema + "\"; SET client_min_messages = warning; SET lock_timeout = " +
      std::to_string(std::max<int64_t>(1, o_.busy_timeout_ms)) +
      "; SET synchronous_commit = on; SET default_transaction_isolation = 'read committed'";
  if (Status s = Exec(c, setup, "setting up a connection"); !s.ok()) {
    PQfinish(c);
    return s;
  }
  return c;
}

StatusOr<PGconn*> PgStore::Acquire() {
  {
    MutexLock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o_.pg_connect_timeout_s);
    while (idle_.empty() && open_ >= o_.pg_pool_size) {
      if (lock.WaitUntil(freed_, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= o_.pg_pool_size) {
        return Unavailable("postgresql: all " + std::to_string(o_.pg_pool_size) +
                           " connections stayed busy for " + std::to_string(o_.pg_connect_timeout_s) + " s");
      }
    }
    if (!idle_.empty()) {
      PGconn* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    ++open_;  // a slot for the connection made below, outside the lock
  }
  StatusOr<PGconn*> c = Connect();
  if (!c.ok()) {
    MutexLock lock(mu_);
    --open_;
    freed_.notify_one();
  }
  return c;
}

void PgStore::Give(PGconn* c, bool dropped) {
  std::vector<PGconn*> close;
  {
    MutexLock lock(mu_);
    if (dropped) {
      close.swap(idle_);
      close.push_back(c);
      open_ -= static_cast<int>(close.size());
    } else {
      idle_.push_back(c);
    }
    freed_.notify_all();
  }
  for (PGconn* x : close) PQfinish(x);
}

template <class T>
StatusOr<T> PgStore::Run(const std::function<StatusOr<T>(PGconn*)>& fn) {
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(PGconn * c, Acquire());
    StatusOr<T> r = fn(c);
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
      PQclear(PQexec(c, "ROLLBACK"));
    const bool dropped = PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE;
    Give(c, dropped);
    if (!dropped || attempt > 0) return r;
  }
}

StatusOr<Rows> PgStore::Run1(const char* sql, std::vector<std::string> params, std::string_view what) {
  return Run<Rows>([&](PGconn* c) { return Query(c, sql, params, what); });
}

Status PgStore::Init() {
  const std::string schema = "\"" + o_.pg_schema + "\"";
  StatusOr<bool> done = Run<bool>([&](PGconn* c) -> StatusOr<bool> {
    RETURN_IF_ERROR(Exec(c, "BEGIN", "creating the schema"));
    // Replicas starting together: one creates, the others wait here and then find everything there.
    ASSIGN_OR_RETURN(Rows locked, Query(c, "SELECT pg_advisory_xact_lock(hashtext($1))",
                                        {"continuum_fleet_store:" + o_.pg_schema}, "locking the schema"));
    RETURN_IF_ERROR(Exec(c, "CREATE SCHEMA IF NOT EXISTS " + schema + "; SET search_path TO " + schema,
                         "creating the schema"));
    RETURN_IF_ERROR(Exec(c, "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
                         "creating the schema"));
    ASSIGN_OR_RETURN(Rows v, Query(c, "SELECT coalesce(max(version), 0) FROM schema_version", {},
                                   "reading the schema version"));
    const int64_t version = v.Int(0, 0);
    if (version > kSchemaVersion) {
      return FailedPrecondition("postgresql: schema " + o_.pg_schema + " has version " +
                                std::to_string(version) + ", newer than this build's " +
                                std::to_string(kSchemaVersion));
    }
    for (const char* sql : kSchema) RETURN_IF_ERROR(Exec(c, sql, "creating the schema"));
    if (version == 0) {
      ASSIGN_OR_RETURN(Rows w, Query(c, "INSERT INTO schema_version (version) VALUES ($1::bigint)",
                                     {Str(kSchemaVersion)}, "writing the schema version"));
    }
    RETURN_IF_ERROR(Exec(c, "COMMIT", "creating the schema"));
    return true;
  });
  return done.status();
}

StatusOr<std::optional<Doc>> PgStore::Get(DocKind kind, std::string_view name) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  ASSIGN_OR_RETURN(Rows r, Run1("SELECT json, revision, updated_ms FROM docs WHERE kind = $1 AND name = $2",
                                {Str(DocKindName(kind)), Str(name)}, "reading a document"));
  if (r.size() == 0) return std::optional<Doc>();
  return std::optional<Doc>(Doc{std::string(name), r.Text(0, 0), r.Int(0, 1), r.Int(0, 2)});
}

StatusOr<std::vector<Doc>> PgStore::List(DocKind kind) {
  ASSIGN_OR_RETURN(Rows r, Run1("SELECT name, json, revision, updated_ms FROM docs WHERE kind = $1 "
                                "ORDER BY name COLLATE \"C\"",
                                {Str(DocKindName(kind))}, "listing documents"));
  std::vector<Doc> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i) out.push_back(Doc{r.Text(i, 0), r.Text(i, 1), r.Int(i, 2), r.Int(i, 3)});
  return out;
}

StatusOr<std::optional<int64_t>> PgStore::Revision(DocKind kind, std::string_view name) {
  ASSIGN_OR_RETURN(std::optional<Doc> d, Get(kind, name));
  if (!d) return std::optional<int64_t>();
  return std::optional<int64_t>(d->revision);
}

StatusOr<int64_t> PgStore::Put(DocKind kind, std::string_view name, std::string_view json,
                               int64_t expected_revision, int64_t now_ms) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  RETURN_IF_ERROR(CheckDocJson(json, o_));
  if (expected_revision < 0) return InvalidArgument("expected_revision: must not be negative");
  const char* insert =
      "WITH d AS (INSERT INTO docs (kind, name, json, revision, updated_ms) VALUES ($1, $2, $3, 1, "
      "$5::bigint) "
      "ON CONFLICT (kind, name) DO NOTHING RETURNING revision), " BUMP_CHANGES_IF_D
      "SELECT revision, $4::bigint FROM d";
  const char* update =
      "WITH d AS (UPDATE docs SET json = $3, revision = revision + 1, updated_ms = $5::bigint "
      "WHERE kind = $1 AND name = $2 AND revision = $4::bigint RETURNING revision), " BUMP_CHANGES_IF_D
      "SELECT revision FROM d";
  ASSIGN_OR_RETURN(Rows r,
                   Run1(expected_revision == 0 ? insert : update,
                        {Str(DocKindName(kind)), Str(name), Str(json), Str(expected_revision), Str(now_ms)},
                        "writing a document"));
  if (r.size() == 1) return r.Int(0, 0);
  ASSIGN_OR_RETURN(std::optional<int64_t> current, Revision(kind, name));
  return Conflict(kind, name, expected_revision, current);
}

StatusOr<int64_t> PgStore::Upsert(DocKind kind, std::string_view name, std::string_view json,
                                  int64_t now_ms) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  RETURN_IF_ERROR(CheckDocJson(json, o_));
  ASSIGN_OR_RETURN(
      Rows r, Run1("WITH d AS (INSERT INTO docs (kind, name, json, revision, updated_ms) "
                   "VALUES ($1, $2, $3, 1, $4::bigint) ON CONFLICT (kind, name) DO UPDATE SET "
                   "json = EXCLUDED.json, revision = docs.revision + 1, updated_ms = EXCLUDED.updated_ms "
                   "RETURNING revision), " BUMP_CHANGES_IF_D "SELECT revision FROM d",
                   {Str(DocKindName(kind)), Str(name), Str(json), Str(now_ms)}, "writing a document"));
  if (r.size() != 1) return Internal("postgresql: writing a document: the upsert returned no revision");
  return r.Int(0, 0);
}

Status PgStore::Delete(DocKind kind, std::string_view name, int64_t expected_revision) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  if (expected_revision < kAnyRevision) return InvalidArgument("expected_revision: must be -1 (any) or more");
  ASSIGN_OR_RETURN(
      Rows r, Run1("WITH d AS (DELETE FROM docs WHERE kind = $1 AND name = $2 "
                   "AND ($3::bigint < 0 OR revision = $3::bigint) RETURNING revision), " BUMP_CHANGES_IF_D
                   "SELECT revision FROM d",
                   {Str(DocKindName(kind)), Str(name), Str(expected_revision)}, "deleting a document"));
  if (r.size() == 1) return Status::Ok();
  ASSIGN_OR_RETURN(std::optional<int64_t> current, Revision(kind, name));
  if (!current) return NotFound(std::string(DocKindName(kind)) + " " + Quoted(name) + " does not exist");
  return Conflict(kind, name, expected_revision, current);
}

StatusOr<int64_t> PgStore::NextSequence(std::string_view node) {
  RETURN_IF_ERROR(CheckName(node, "node", o_));
  ASSIGN_OR_RETURN(Rows r, Run1("INSERT INTO sequences (node, value) VALUES ($1, 1) ON CONFLICT (node) "
                                "DO UPDATE SET value = sequences.value + 1 RETURNING value",
                                {Str(node)}, "advancing a sequence"));
  if (r.size() != 1) return Internal("postgresql: advancing a sequence: no value returned");
  return r.Int(0, 0);
}

// The id comes from a counter row, not a sequence: its row lock is held until the commit, so ids
// become visible in increasing order and a reader paging with after_id never skips one.
StatusOr<int64_t> PgStore::AppendEvent(const Event& e) {
  RETURN_IF_ERROR(CheckEvent(e, o_));
  ASSIGN_OR_RETURN(Rows r,
                   Run1("WITH n AS (UPDATE counters SET value = value + 1 WHERE name = 'events' "
                        "RETURNING value), "
                        "i AS (INSERT INTO events (id, at_ms, subject, kind, reason) "
                        "SELECT value, $1::bigint, $2, $3, $4 FROM n RETURNING id), "
                        "p AS (DELETE FROM events WHERE id <= (SELECT value FROM n) - $5::bigint) "
                        "SELECT id FROM i",
                        {Str(e.at_ms), e.subject, e.kind, StoredReason(e.reason, o_), Str(o_.max_events)},
                        "appending an event"));
  if (r.size() != 1) return Internal("postgresql: appending an event: no id returned");
  return r.Int(0, 0);
}

StatusOr<std::vector<Event>> PgStore::Events(int64_t after_id, int64_t limit, std::string_view subject) {
  if (limit < 0) return InvalidArgument("limit: must not be negative");
  if (!subject.empty()) RETURN_IF_ERROR(CheckName(subject, "subject", o_));
  limit = std::min(limit, o_.max_events_page);
  std::vector<std::string> params = {Str(after_id), Str(limit)};
  if (!subject.empty()) params.push_back(Str(subject));
  ASSIGN_OR_RETURN(
      Rows r, Run1(subject.empty() ? "SELECT id, at_ms, subject, kind, reason FROM events "
                                     "WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint"
                                   : "SELECT id, at_ms, subject, kind, reason FROM events "
                                     "WHERE subject = $3 AND id > $1::bigint ORDER BY id LIMIT $2::bigint",
                   std::move(params), "reading events"));
  std::vector<Event> out;
  out.reserve(r.size());
  for (int i = 0; i < r.size(); ++i)
    out.push_back(Event{r.Int(i, 0), r.Int(i, 1), r.Text(i, 2), r.Text(i, 3), r.Text(i, 4)});
  return out;
}

StatusOr<bool> PgStore::TryLease(std::string_view lease, std::string_view holder, int64_t now_ms,
                                 int64_t ttl_ms) {
  RETURN_IF_ERROR(CheckLease(lease, holder, now_ms, ttl_ms, o_));
  ASSIGN_OR_RETURN(
      Rows r, Run1("INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3::bigint + $4::bigint) "
                   "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
                   "expires_ms = EXCLUDED.expires_ms "
                   "WHERE leases.holder = EXCLUDED.holder OR leases.expires_ms <= $3::bigint "
                   "RETURNING holder",
                   {Str(lease), Str(holder), Str(now_ms), Str(ttl_ms)}, "taking a lease"));
  return r.size() == 1;
}

Status PgStore::ReleaseLease(std::string_view lease, std::string_view holder) {
  RETURN_IF_ERROR(CheckName(lease, "lease", o_));
  RETURN_IF_ERROR(CheckName(holder, "holder", o_));
  return Run1("DELETE FROM leases WHERE name = $1 AND holder = $2", {Str(lease), Str(holder)},
              "releasing a lease")
      .status();
}

StatusOr<int64_t> PgStore::ChangeCounter() {
  ASSIGN_OR_RETURN(
      Rows r, Run1("SELECT value FROM counters WHERE name = 'changes'", {}, "reading the change counter"));
  if (r.size() != 1) return Internal("postgresql: the change counter row is missing");
  return r.Int(0, 0);
}

#undef BUMP_CHANGES_IF_D

}  // namespace

StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri, const StoreOptions& o) {
  auto store = std::make_unique<PgStore>(uri, o);
  RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace continuum::fleet::store_internal
