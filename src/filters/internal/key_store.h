// Tenants and API keys in SQLite. Keys are stored as the SHA-256 of their secret; the secret is
// returned once, by IssueKey. Every key and tenant is also held in memory, so authenticating a
// request is a hash lookup under a shared lock and never touches the disk (the I/O thread never
// waits on SQLite); only the admin operations write to the database.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "filters/filters.h"

struct sqlite3;

namespace continuum::filters {

// A client certificate a tenant is bound to, by the SHA-256 of its DER (64 lower-case hex digits)
// or by its subject, exactly as the server reads it (RFC 2253: "CN=tenant-a,O=continuum-tests").
// A certificate counts only once the TLS handshake verified it against --tls-client-ca.
struct CertificateBinding {
  enum class Kind { kSubject, kSha256 };
  Kind kind = Kind::kSha256;
  std::string value;
  bool operator==(const CertificateBinding&) const = default;
};

struct Tenant {
  std::string id;                   // chosen by the operator: [A-Za-z0-9_.-], 1..64 characters
  std::vector<std::string> models;  // globs of the models this tenant may see; empty: all
  double daily_free_units = -1;     // < 0: the metering filter's default
  double budget_units = -1;         // < 0: the metering filter's default
  int64_t created = 0;              // Unix seconds
  std::vector<CertificateBinding> client_certificates;  // a verified match authenticates as the tenant
};

struct ApiKey {
  std::string id;  // "key_" + 12 hex digits; shown in lists and logs, never a secret
  std::string tenant;
  std::string name;
  std::vector<std::string> models;  // globs; empty: every model of the tenant
  std::vector<std::string> routes;  // path globs; empty: every tenant route
  bool revoked = false;
  int64_t created = 0;
};

struct IssuedKey {
  ApiKey key;
  std::string secret;  // "ck_" + 64 hex digits (32 random bytes); not stored anywhere
};

class KeyStore {
 public:
  // Opens (creating if needed) the database; ":memory:" for a private in-memory one.
  static StatusOr<std::unique_ptr<KeyStore>> Open(const std::string& path, const Clock* clock);
  ~KeyStore();

  // kAlreadyExists for a taken id or a certificate already bound to another tenant,
  // kInvalidArgument for a malformed id or binding (a sha256 is stored lower-case).
  StatusOr<Tenant> CreateTenant(Tenant t);
  std::vector<Tenant> ListTenants() const;
  StatusOr<Tenant> GetTenant(const std::string& id) const;

  StatusOr<IssuedKey> IssueKey(const std::string& tenant, std::string name, std::vector<std::string> models,
                               std::vector<std::string> routes);
  StatusOr<std::vector<ApiKey>> ListKeys(const std::string& tenant) const;
  Status RevokeKey(const std::string& key_id);

  struct Identity {
    ApiKey key;
    Tenant tenant;
  };
  // kNotFound for an unknown secret, kFailedPrecondition for a revoked key.
  StatusOr<Identity> Authenticate(const std::string& secret) const;
  // The tenant a verified client certificate is bound to: by its SHA-256 first, then by its
  // subject; kNotFound when neither is bound.
  StatusOr<Tenant> TenantForCertificate(const std::string& sha256, const std::string& subject) const;

 private:
  KeyStore(sqlite3* db, const Clock* clock) : db_(db), clock_(clock) {}
  Status Load();
  Status Exec(const std::string& sql);
  Status InsertTenant(const Tenant& t);  // the rows of a new tenant, inside the caller's transaction

  sqlite3* db_;
  const Clock* clock_;
  std::mutex write_mu_;  // serializes database writes
  mutable std::shared_mutex mu_;
  std::map<std::string, Tenant> tenants_;
  std::map<std::string, ApiKey> keys_by_id_;
  std::map<std::string, std::string> key_id_by_hash_;
  std::map<std::pair<CertificateBinding::Kind, std::string>, std::string> tenant_by_certificate_;
};

}  // namespace continuum::filters
