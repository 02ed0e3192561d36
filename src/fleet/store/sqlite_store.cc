// The SQLite backend: one connection behind a mutex, WAL with synchronous=FULL, every write in a
// BEGIN IMMEDIATE transaction (so another process on the same file waits busy_timeout_ms instead
// of failing half-way).
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "common/thread_annotations.h"
#include "fleet/store/internal.h"

namespace continuum::fleet::store_internal {

namespace {

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  // The bound text must outlive Step (SQLITE_STATIC: no copy of a 16 MiB document).
  Stmt& Text(int i, std::string_view v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code (also a prepare or bind error).
  int Step() { return rc_ == SQLITE_OK ? sqlite3_step(s_) : rc_; }
  std::string ColText(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, i)) : std::string();
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_OK;
};

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string m = "sqlite: " + std::string(what) + ": " + sqlite3_errstr(rc);
  if (db && sqlite3_errcode(db) == rc) m += std::string(" (") + sqlite3_errmsg(db) + ")";
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Unavailable(m);
    case SQLITE_TOOBIG: return PayloadTooLarge(m);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY: return Unavailable(m);
    default: return Internal(m);
  }
}

constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL, "
    "revision INTEGER NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (kind, name))",
    "CREATE TABLE IF NOT EXISTS sequences (node TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, subject TEXT NOT "
    "NULL, "
    "kind TEXT NOT NULL, reason TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS events_by_subject ON events (subject, id)",
    "CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms INTEGER NOT "
    "NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO counters (name, value) VALUES ('changes', 0), ('events', 0) ON CONFLICT DO NOTHING",
};

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, const StoreOptions& o) : db_(db), o_(o) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Status Init() EXCLUDES(mu_);
  StatusOr<std::optional<Doc>> Get(DocKind kind, std::string_view name) override EXCLUDES(mu_);
  StatusOr<std::vector<Doc>> List(DocKind kind) override EXCLUDES(mu_);
  StatusOr<int64_t> Put(DocKind kind, std::string_view name, std::string_view json, int64_t expected_revision,
                        int64_t now_ms) override EXCLUDES(mu_);
  StatusOr<int64_t> Upsert(DocKind kind, std::string_view name, std::string_view json,
                           int64_t now_ms) override EXCLUDES(mu_);
  Status Delete(DocKind kind, std::string_view name, int64_t expected_revision) override EXCLUDES(mu_);
  StatusOr<int64_t> NextSequence(std::string_view node) override EXCLUDES(mu_);
  StatusOr<int64_t> AppendEvent(const Event& e) override EXCLUDES(mu_);
  StatusOr<std::vector<Event>> Events(int64_t after_id, int64_t limit, std::string_view subject) override
      EXCLUDES(mu_);
  StatusOr<bool> TryLease(std::string_view lease, std::string_view holder, int64_t now_ms,
                          int64_t ttl_ms) override EXCLUDES(mu_);
  Status ReleaseLease(std::string_view lease, std::string_view holder) override EXCLUDES(mu_);
  StatusOr<int64_t> ChangeCounter() override EXCLUDES(mu_);
  std::string_view backend() const override { return "sqlite"; }

 private:
  Status Exec(const char* sql) REQUIRES(mu_);
  // Runs `body` in a BEGIN IMMEDIATE transaction: committed when it returns Ok, rolled back otherwise.
  Status InTransaction(const std::function<Status()>& body) REQUIRES(mu_);
  StatusOr<std::optional<int64_t>> RevisionLocked(DocKind kind, std::string_view name) REQUIRES(mu_);
  Status BumpChangesLocked() REQUIRES(mu_);

  Mutex mu_;
  sqlite3* const db_;  // used under mu_ only
  const StoreOptions o_;
};

Status SqliteStore::Exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : SqliteError(db_, rc, sql);
}

Status SqliteStore::InTransaction(const std::function<Status()>& body) {
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok() && !sqlite3_get_autocommit(db_)) (void)Exec("ROLLBACK");  // the first error is the one reported
  return s;
}

Status SqliteStore::Init() {
  MutexLock lock(mu_);
  const std::string pragmas = "PRAGMA busy_timeout=" + std::to_string(o_.busy_timeout_ms);
  RETURN_IF_ERROR(Exec(pragmas.c_str()));
  RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  return InTransaction([&]() REQUIRES(mu_) -> Status {
    RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
    Stmt v(db_, "SELECT max(version) FROM schema_version");
    if (const int rc = v.Step(); rc != SQLITE_ROW) return SqliteError(db_, rc, "reading the schema version");
    const int64_t version = v.ColInt(0);  // 0 for a new database (max of no rows is NULL)
    if (version > kSchemaVersion) {
      return FailedPrecondition("sqlite: the database has schema version " + std::to_string(version) +
                                ", newer than this build's " + std::to_string(kSchemaVersion));
    }
    for (const char* sql : kSchema) RETURN_IF_ERROR(Exec(sql));
    if (version == 0) {
      Stmt w(db_, "INSERT INTO schema_version (version) VALUES (?1)");
      if (const int rc = w.Int(1, kSchemaVersion).Step(); rc != SQLITE_DONE)
        return SqliteError(db_, rc, "writing the schema version");
    }
    return Status::Ok();
  });
}

StatusOr<std::optional<Doc>> SqliteStore::Get(DocKind kind, std::string_view name) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  MutexLock lock(mu_);
  Stmt s(db_, "SELECT json, revision, updated_ms FROM docs WHERE kind = ?1 AND name = ?2");
  const int rc = s.Text(1, DocKindName(kind)).Text(2, name).Step();
  if (rc == SQLITE_DONE) return std::optional<Doc>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a document");
  return std::optional<Doc>(Doc{std::string(name), s.ColText(0), s.ColInt(1), s.ColInt(2)});
}

StatusOr<std::vector<Doc>> SqliteStore::List(DocKind kind) {
  MutexLock lock(mu_);
  Stmt s(db_, "SELECT name, json, revision, updated_ms FROM docs WHERE kind = ?1 ORDER BY name");
  s.Text(1, DocKindName(kind));
  std::vector<Doc> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW)
    out.push_back(Doc{s.ColText(0), s.ColText(1), s.ColInt(2), s.ColInt(3)});
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing documents");
  return out;
}

StatusOr<std::optional<int64_t>> SqliteStore::RevisionLocked(DocKind kind, std::string_view name) {
  Stmt s(db_, "SELECT revision FROM docs WHERE kind = ?1 AND name = ?2");
  const int rc = s.Text(1, DocKindName(kind)).Text(2, name).Step();
  if (rc == SQLITE_DONE) return std::optional<int64_t>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a revision");
  return std::optional<int64_t>(s.ColInt(0));
}

Status SqliteStore::BumpChangesLocked() {
  return Exec("UPDATE counters SET value = value + 1 WHERE name = 'changes'");
}

StatusOr<int64_t> SqliteStore::Put(DocKind kind, std::string_view name, std::string_view json,
                                   int64_t expected_revision, int64_t now_ms) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  RETURN_IF_ERROR(CheckDocJson(json, o_));
  if (expected_revision < 0) return InvalidArgument("expected_revision: must not be negative");
  MutexLock lock(mu_);
  RETURN_IF_ERROR(InTransaction([&]() REQUIRES(mu_) -> Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> current, RevisionLocked(kind, name));
    if (current.value_or(0) != expected_revision) return Conflict(kind, name, expected_revision, current);
    Stmt w(
        db_,
        expected_revision == 0
            ? "INSERT INTO docs (kind, name, json, revision, updated_ms) VALUES (?1, ?2, ?3, ?4 + 1, ?5)"
            : "UPDATE docs SET json = ?3, revision = ?4 + 1, updated_ms = ?5 WHERE kind = ?1 AND name = ?2");
    const int rc = w.Text(1, DocKindName(kind))
                       .Text(2, name)
                       .Text(3, json)
                       .Int(4, expected_revision)
                       .Int(5, now_ms)
                       .Step();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "writing a document");
    return BumpChangesLocked();
  }));
  return expected_revision + 1;
}

StatusOr<int64_t> SqliteStore::Upsert(DocKind kind, std::string_view name, std::string_view json,
                                      int64_t now_ms) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  RETURN_IF_ERROR(CheckDocJson(json, o_));
  MutexLock lock(mu_);
  int64_t revision = 0;
  RETURN_IF_ERROR(InTransaction([&]() REQUIRES(mu_) -> Status {
    Stmt w(db_,
           "INSERT INTO docs (kind, name, json, revision, updated_ms) VALUES (?1, ?2, ?3, 1, ?4) "
           "ON CONFLICT (kind, name) DO UPDATE SET json = excluded.json, revision = docs.revision + 1, "
           "updated_ms = excluded.updated_ms RETURNING revision");
    const int rc = w.Text(1, DocKindName(kind)).Text(2, name).Text(3, json).Int(4, now_ms).Step();
    if (rc != SQLITE_ROW) return SqliteError(db_, rc, "writing a document");
    revision = w.ColInt(0);
    return BumpChangesLocked();
  }));
  return revision;
}

Status SqliteStore::Delete(DocKind kind, std::string_view name, int64_t expected_revision) {
  RETURN_IF_ERROR(CheckName(name, "name", o_));
  if (expected_revision < kAnyRevision) return InvalidArgument("expected_revision: must be -1 (any) or more");
  MutexLock lock(mu_);
  return InTransaction([&]() REQUIRES(mu_) -> Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> current, RevisionLocked(kind, name));
    if (!current) return NotFound(std::string(DocKindName(kind)) + " " + Quoted(name) + " does not exist");
    if (expected_revision != kAnyRevision && *current != expected_revision)
      return Conflict(kind, name, expected_revision, current);
    Stmt d(db_, "DELETE FROM docs WHERE kind = ?1 AND name = ?2");
    const int rc = d.Text(1, DocKindName(kind)).Text(2, name).Step();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "deleting a document");
    return BumpChangesLocked();
  });
}

StatusOr<int64_t> SqliteStore::NextSequence(std::string_view node) {
  RETURN_IF_ERROR(CheckName(node, "node", o_));
  MutexLock lock(mu_);
  Stmt s(db_,
         "INSERT INTO sequences (node, value) VALUES (?1, 1) "
         "ON CONFLICT (node) DO UPDATE SET value = sequences.value + 1 RETURNING value");
  const int rc = s.Text(1, node).Step();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "advancing a sequence");
  return s.ColInt(0);
}

StatusOr<int64_t> SqliteStore::AppendEvent(const Event& e) {
  RETURN_IF_ERROR(CheckEvent(e, o_));
  MutexLock lock(mu_);
  int64_t id = 0;
  RETURN_IF_ERROR(InTransaction([&]() REQUIRES(mu_) -> Status {
    Stmt n(db_, "UPDATE counters SET value = value + 1 WHERE name = 'events' RETURNING value");
    if (const int rc = n.Step(); rc != SQLITE_ROW) return SqliteError(db_, rc, "numbering an event");
    id = n.ColInt(0);
    Stmt i(db_, "INSERT INTO events (id, at_ms, subject, kind, reason) VALUES (?1, ?2, ?3, ?4, ?5)");
    const std::string reason = StoredReason(e.reason, o_);
    int rc = i.Int(1, id).Int(2, e.at_ms).Text(3, e.subject).Text(4, e.kind).Text(5, reason).Step();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "appending an event");
    Stmt p(db_, "DELETE FROM events WHERE id <= ?1");
    rc = p.Int(1, id - o_.max_events).Step();
    return rc == SQLITE_DONE ? Status::Ok() : SqliteError(db_, rc, "pruning events");
  }));
  return id;
}

StatusOr<std::vector<Event>> SqliteStore::Events(int64_t after_id, int64_t limit, std::string_view subject) {
  if (limit < 0) return InvalidArgument("limit: must not be negative");
  if (!subject.empty()) RETURN_IF_ERROR(CheckName(subject, "subject", o_));
  limit = std::min(limit, o_.max_events_page);
  MutexLock lock(mu_);
  Stmt s(db_, subject.empty()
                  ? "SELECT id, at_ms, subject, kind, reason FROM events WHERE id > ?1 "
                    "ORDER BY id LIMIT ?2"
                  : "SELECT id, at_ms, subject, kind, reason FROM events WHERE subject = ?3 AND id > ?1 "
                    "ORDER BY id LIMIT ?2");
  s.Int(1, after_id).Int(2, limit);
  if (!subject.empty()) s.Text(3, subject);
  std::vector<Event> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW)
    out.push_back(Event{s.ColInt(0), s.ColInt(1), s.ColText(2), s.ColText(3), s.ColText(4)});
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading events");
  return out;
}

StatusOr<bool> SqliteStore::TryLease(std::string_view lease, std::string_view holder, int64_t now_ms,
                                     int64_t ttl_ms) {
  RETURN_IF_ERROR(CheckLease(lease, holder, now_ms, ttl_ms, o_));
  MutexLock lock(mu_);
  Stmt s(
      db_,
      "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3 + ?4) ON CONFLICT (name) DO UPDATE "
      "SET holder = excluded.holder, expires_ms = excluded.expires_ms "
      "WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?3 RETURNING holder");
  const int rc = s.Text(1, lease).Text(2, holder).Int(3, now_ms).Int(4, ttl_ms).Step();
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, rc, "taking a lease");
}

Status SqliteStore::ReleaseLease(std::string_view lease, std::string_view holder) {
  RETURN_IF_ERROR(CheckName(lease, "lease", o_));
  RETURN_IF_ERROR(CheckName(holder, "holder", o_));
  MutexLock lock(mu_);
  Stmt s(db_, "DELETE FROM leases WHERE name = ?1 AND holder = ?2");
  const int rc = s.Text(1, lease).Text(2, holder).Step();
  return rc == SQLITE_DONE ? Status::Ok() : SqliteError(db_, rc, "releasing a lease");
}

StatusOr<int64_t> SqliteStore::ChangeCounter() {
  MutexLock lock(mu_);
  Stmt s(db_, "SELECT value FROM counters WHERE name = 'changes'");
  const int rc = s.Step();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading the change counter");
  return s.ColInt(0);
}

// Creates the file mode 0600 before SQLite opens it (SQLite would use 0644 less the umask); the WAL
// and shared-memory files SQLite creates take the database file's mode.
Status CreateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::Ok();
  return Unavailable("sqlite: cannot create " + path + ": " + std::strerror(errno));
}

}  // namespace

StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const StoreOptions& o) {
  if (path != ":memory:") RETURN_IF_ERROR(CreateFile(path));
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteError(db, rc, "opening " + path);
    sqlite3_close(db);
    return s;
  }
  auto store = std::make_unique<SqliteStore>(db, o);
  RETURN_IF_ERROR(store->Init().WithContext(path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace continuum::fleet::store_internal
