#include "filters/internal/key_store.h"

#include <sqlite3.h>

#include <cctype>
#include <chrono>
#include <mutex>
#include <utility>

#include "filters/internal/sqlite_util.h"
#include "filters/internal/util.h"

namespace continuum::filters {

namespace {

// Glob lists are stored one per line: globs never contain a newline (checked on the way in).
std::string JoinLines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "\n") + x;
  return s;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

Status CheckGlobs(const std::vector<std::string>& v, std::string_view what) {
  for (const auto& g : v)
    if (g.empty() || g.size() > 256 || g.find('\n') != std::string::npos) {
      return InvalidArgument(std::string(what) + ": each entry must be 1..256 characters without newlines");
    }
  return Status::Ok();
}

Status DbError(sqlite3* db, std::string_view what) {
  return Internal("key database: " + std::string(what) + ": " + sqlite3_errmsg(db));
}

constexpr size_t kMaxSubjectBytes = 1024;

std::string_view KindName(CertificateBinding::Kind k) {
  return k == CertificateBinding::Kind::kSubject ? "subject" : "sha256";
}

// Checks each binding, lower-cases the sha256 ones, and refuses a binding listed twice.
Status NormalizeBindings(std::vector<CertificateBinding>& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    CertificateBinding& b = v[i];
    const std::string where =
        "client_certificates[" + std::to_string(i) + "]." + std::string(KindName(b.kind));
    if (b.kind == CertificateBinding::Kind::kSha256) {
      if (b.value.size() != 64)
        return InvalidArgument(where + ": must be 64 hex digits (SHA-256 of the DER)");
      for (char& c : b.value) {
        if (!std::isxdigit(static_cast<unsigned char>(c)))
          return InvalidArgument(where + ": must be 64 hex digits (SHA-256 of the DER)");
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    } else {
      if (b.value.empty() || b.value.size() > kMaxSubjectBytes)
        return InvalidArgument(where + ": must be 1.." + std::to_string(kMaxSubjectBytes) + " bytes");
      for (char c : b.value)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          return InvalidArgument(where + ": must not hold control characters");
    }
    for (size_t j = 0; j < i; ++j)
      if (v[j] == b) return InvalidArgument(where + ": listed twice");
  }
  return Status::Ok();
}

bool ValidTenantId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::string& path, const Clock* clock) {
  ASSIGN_OR_RETURN(sqlite3 * db, OpenSqlite(path, "key database"));
  std::unique_ptr<KeyStore> store(new KeyStore(db, clock));
  RETURN_IF_ERROR(store->Exec(
      "CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, models TEXT NOT NULL, daily_free_units REAL "
      "NOT NULL, budget_units REAL NOT NULL, created INTEGER NOT NULL)"));
  RETURN_IF_ERROR(store->Exec(
      "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES "
      "tenants(id), "
      "name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, models TEXT NOT NULL, routes TEXT NOT NULL, "
      "revoked INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL)"));
  // One row per certificate binding; a certificate belongs to one tenant at most.
  RETURN_IF_ERROR(store->Exec(
      "CREATE TABLE IF NOT EXISTS tenant_certificates (tenant TEXT NOT NULL REFERENCES tenants(id), "
      "kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, value))"));
  RETURN_IF_ERROR(store->Load());
  return store;
}

KeyStore::~KeyStore() { sqlite3_close(db_); }

Status KeyStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal("key database: " + why);
  }
  return Status::Ok();
}

Status KeyStore::Load() {
  std::unique_lock lock(mu_);
  Stmt t(db_, "SELECT id, models, daily_free_units, budget_units, created FROM tenants");
  if (!t.ok()) return DbError(db_, "reading tenants");
  while (t.Step() == SQLITE_ROW) {
    Tenant x{t.ColText(0), SplitLines(t.ColText(1)), t.ColReal(2), t.ColReal(3), t.ColInt(4), {}};
    tenants_[x.id] = x;
  }
  Stmt c(db_, "SELECT tenant, kind, value FROM tenant_certificates ORDER BY rowid");
  if (!c.ok()) return DbError(db_, "reading tenant certificates");
  while (c.Step() == SQLITE_ROW) {
    auto t = tenants_.find(c.ColText(0));
    if (t == tenants_.end()) continue;
    const auto kind =
        c.ColText(1) == "subject" ? CertificateBinding::Kind::kSubject : CertificateBinding::Kind::kSha256;
    t->second.client_certificates.push_back({kind, c.ColText(2)});
    tenant_by_certificate_[{kind, c.ColText(2)}] = t->first;
  }
  Stmt k(db_, "SELECT id, tenant, name, hash, models, routes, revoked, created FROM api_keys");
  if (!k.ok()) return DbError(db_, "reading keys");
  while (k.Step() == SQLITE_ROW) {
    ApiKey x{k.ColText(0),     k.ColText(1), k.ColText(2), SplitLines(k.ColText(4)), SplitLines(k.ColText(5)),
             k.ColInt(6) != 0, k.ColInt(7)};
    key_id_by_hash_[k.ColText(3)] = x.id;
    keys_by_id_[x.id] = x;
  }
  return Status::Ok();
}

StatusOr<Tenant> KeyStore::CreateTenant(Tenant t) {
  if (!ValidTenantId(t.id)) return InvalidArgument("id: must be 1..64 characters of A-Z a-z 0-9 _ - .");
  RETURN_IF_ERROR(CheckGlobs(t.models, "models"));
  RETURN_IF_ERROR(NormalizeBindings(t.client_certificates));
  t.created = std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count();
  std::lock_guard w(write_mu_);
  {
    std::shared_lock r(mu_);
    if (tenants_.count(t.id)) return AlreadyExists("tenant '" + t.id + "' already exists");
    for (const auto& b : t.client_certificates) {
      if (tenant_by_certificate_.count({b.kind, b.value})) {
        return AlreadyExists("client certificate " + std::string(KindName(b.kind)) + " '" + b.value +
                             "' is already bound to another tenant");
      }
    }
  }
  // The tenant and its certificates are written together or not at all.
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status written = InsertTenant(t);
  if (written.ok()) written = Exec("COMMIT");
  if (!written.ok()) {
    (void)Exec(
        "ROLLBACK");  // also ends a transaction whose COMMIT failed; the first error is the one reported
    return written;
  }
  std::unique_lock lock(mu_);
  tenants_[t.id] = t;
  for (const auto& b : t.client_certificates) tenant_by_certificate_[{b.kind, b.value}] = t.id;
  return t;
}

Status KeyStore::InsertTenant(const Tenant& t) {
  Stmt s(db_, "INSERT INTO tenants (id, models, daily_free_units, budget_units, created) VALUES (?,?,?,?,?)");
  if (!s.ok()) return DbError(db_, "creating a tenant");
  s.Text(1, t.id)
      .Text(2, JoinLines(t.models))
      .Real(3, t.daily_free_units)
      .Real(4, t.budget_units)
      .Int(5, t.created);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "creating a tenant");
  for (const auto& b : t.client_certificates) {
    Stmt c(db_, "INSERT INTO tenant_certificates (tenant, kind, value) VALUES (?,?,?)");
    if (!c.ok()) return DbError(db_, "binding a client certificate");
    c.Text(1, t.id).Text(2, std::string(KindName(b.kind))).Text(3, b.value);
    if (c.Step() != SQLITE_DONE) return DbError(db_, "binding a client certificate");
  }
  return Status::Ok();
}

std::vector<Tenant> KeyStore::ListTenants() const {
  std::shared_lock lock(mu_);
  std::vector<Tenant> out;
  for (const auto& [id, t] : tenants_) out.push_back(t);
  return out;
}

StatusOr<Tenant> KeyStore::GetTenant(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(id);
  if (it == tenants_.end()) return NotFound("unknown tenant '" + id + "'");
  return it->second;
}

StatusOr<IssuedKey> KeyStore::IssueKey(const std::string& tenant, std::string name,
                                       std::vector<std::string> models, std::vector<std::string> routes) {
  RETURN_IF_ERROR(CheckGlobs(models, "models"));
  RETURN_IF_ERROR(CheckGlobs(routes, "routes"));
  if (name.size() > 256) return InvalidArgument("name: at most 256 characters");
  ASSIGN_OR_RETURN(std::string secret_hex, RandomHex(32));
  ASSIGN_OR_RETURN(std::string id_hex, RandomHex(6));
  IssuedKey out;
  out.secret = "ck_" + secret_hex;
  out.key =
      ApiKey{"key_" + id_hex,
             tenant,
             std::move(name),
             std::move(models),
             std::move(routes),
             false,
             std::chrono::duration_cast<std::chrono::seconds>(clock_->Now().time_since_epoch()).count()};
  const std::string hash = Sha256Hex(out.secret);
  std::lock_guard w(write_mu_);
  {
    std::shared_lock r(mu_);
    if (!tenants_.count(tenant)) return NotFound("unknown tenant '" + tenant + "'");
  }
  Stmt s(db_,
         "INSERT INTO api_keys (id, tenant, name, hash, models, routes, revoked, created) VALUES "
         "(?,?,?,?,?,?,0,?)");
  if (!s.ok()) return DbError(db_, "issuing a key");
  s.Text(1, out.key.id)
      .Text(2, tenant)
      .Text(3, out.key.name)
      .Text(4, hash)
      .Text(5, JoinLines(out.key.models))
      .Text(6, JoinLines(out.key.routes))
      .Int(7, out.key.created);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "issuing a key");
  std::unique_lock lock(mu_);
  keys_by_id_[out.key.id] = out.key;
  key_id_by_hash_[hash] = out.key.id;
  return out;
}

StatusOr<std::vector<ApiKey>> KeyStore::ListKeys(const std::string& tenant) const {
  std::shared_lock lock(mu_);
  if (!tenants_.count(tenant)) return NotFound("unknown tenant '" + tenant + "'");
  std::vector<ApiKey> out;
  for (const auto& [id, k] : keys_by_id_)
    if (k.tenant == tenant) out.push_back(k);
  return out;
}

Status KeyStore::RevokeKey(const std::string& key_id) {
  std::lock_guard w(write_mu_);
  {
    std::shared_lock r(mu_);
    if (!keys_by_id_.count(key_id)) return NotFound("unknown key '" + key_id + "'");
  }
  Stmt s(db_, "UPDATE api_keys SET revoked = 1 WHERE id = ?");
  if (!s.ok()) return DbError(db_, "revoking a key");
  s.Text(1, key_id);
  if (s.Step() != SQLITE_DONE) return DbError(db_, "revoking a key");
  std::unique_lock lock(mu_);
  keys_by_id_[key_id].revoked = true;
  return Status::Ok();
}

StatusOr<KeyStore::Identity> KeyStore::Authenticate(const std::string& secret) const {
  // Only the hash is compared, so the lookup leaks nothing about stored secrets through timing.
  const std::string hash = Sha256Hex(secret);
  std::shared_lock lock(mu_);
  auto h = key_id_by_hash_.find(hash);
  if (h == key_id_by_hash_.end()) return NotFound("invalid API key");
  const ApiKey& key = keys_by_id_.at(h->second);
  if (key.revoked) return FailedPrecondition("API key " + key.id + " has been revoked");
  auto t = tenants_.find(key.tenant);
  if (t == tenants_.end()) return NotFound("invalid API key");
  return Identity{key, t->second};
}

StatusOr<Tenant> KeyStore::TenantForCertificate(const std::string& sha256, const std::string& subject) const {
  std::shared_lock lock(mu_);
  auto found = tenant_by_certificate_.find({CertificateBinding::Kind::kSha256, sha256});
  if (found == tenant_by_certificate_.end())
    found = tenant_by_certificate_.find({CertificateBinding::Kind::kSubject, subject});
  if (found == tenant_by_certificate_.end()) return NotFound("no tenant is bound to this client certificate");
  auto t = tenants_.find(found->second);
  if (t == tenants_.end()) return NotFound("no tenant is bound to this client certificate");
  return t->second;
}

}  // namespace continuum::filters
