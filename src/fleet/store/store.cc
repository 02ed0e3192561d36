#include "fleet/store/store.h"

#include <simdjson.h>

#include <limits>

#include "fleet/store/internal.h"

namespace continuum::fleet {

std::string_view DocKindName(DocKind kind) {
  switch (kind) {
    case DocKind::kNode: return "node";
    case DocKind::kDeployment: return "deployment";
    case DocKind::kRollout: return "rollout";
    case DocKind::kDesiredState: return "desired_state";
  }
  return "unknown";
}

namespace store_internal {

namespace {

Status CheckText(std::string_view v, std::string_view field, int64_t max_bytes, bool may_be_empty) {
  if (v.empty() && !may_be_empty) return InvalidArgument(std::string(field) + ": must not be empty");
  if (static_cast<int64_t>(v.size()) > max_bytes) {
    return InvalidArgument(std::string(field) + ": " + std::to_string(v.size()) +
                           " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  if (v.find('\0') != std::string_view::npos)
    return InvalidArgument(std::string(field) + ": holds a NUL byte");
  if (!simdjson::validate_utf8(v.data(), v.size()))
    return InvalidArgument(std::string(field) + ": not UTF-8");
  return Status::Ok();
}

}  // namespace

Status CheckName(std::string_view name, std::string_view field, const StoreOptions& o) {
  if (name.empty()) return InvalidArgument(std::string(field) + ": must not be empty");
  if (static_cast<int64_t>(name.size()) > o.max_name_bytes) {
    return InvalidArgument(std::string(field) + ": " + Quoted(name) + " is longer than " +
                           std::to_string(o.max_name_bytes) + " bytes");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x21 || c > 0x7e) {
      return InvalidArgument(std::string(field) + ": byte " + std::to_string(i) +
                             " is not printable ASCII (space and control characters are refused)");
    }
  }
  return Status::Ok();
}

Status CheckDocJson(std::string_view json, const StoreOptions& o) {
  if (static_cast<int64_t>(json.size()) > o.max_doc_bytes) {
    return PayloadTooLarge("json: " + std::to_string(json.size()) + " bytes, more than the limit of " +
                           std::to_string(o.max_doc_bytes));
  }
  return CheckText(json, "json", o.max_doc_bytes, true);
}

Status CheckEvent(const Event& e, const StoreOptions& o) {
  RETURN_IF_ERROR(CheckName(e.subject, "event.subject", o));
  RETURN_IF_ERROR(CheckText(e.kind, "event.kind", o.max_event_text_bytes, false));
  return CheckText(e.reason, "event.reason", std::numeric_limits<int64_t>::max(), true);
}

std::string StoredReason(std::string_view reason, const StoreOptions& o) {
  const auto max = static_cast<size_t>(o.max_event_text_bytes);
  if (reason.size() <= max) return std::string(reason);
  size_t n = max >= 3 ? max - 3 : 0;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;  // not inside a sequence
  return std::string(reason.substr(0, n)) + std::string("...").substr(0, max - n);
}

Status CheckLease(std::string_view lease, std::string_view holder, int64_t now_ms, int64_t ttl_ms,
                  const StoreOptions& o) {
  RETURN_IF_ERROR(CheckName(lease, "lease", o));
  RETURN_IF_ERROR(CheckName(holder, "holder", o));
  if (now_ms < 0) return InvalidArgument("now_ms: must not be negative");
  if (ttl_ms <= 0) return InvalidArgument("ttl_ms: must be positive");
  if (now_ms > std::numeric_limits<int64_t>::max() - ttl_ms)
    return InvalidArgument("ttl_ms: now_ms + ttl_ms overflows");
  return Status::Ok();
}

Status CheckOptions(const StoreOptions& o) {
  if (o.busy_timeout_ms < 0 || o.busy_timeout_ms > std::numeric_limits<int>::max())
    return InvalidArgument("busy_timeout_ms: must be 0.." + std::to_string(std::numeric_limits<int>::max()));
  if (o.max_events < 1) return InvalidArgument("max_events: must be at least 1");
  if (o.max_doc_bytes < 0 || o.max_doc_bytes > (1 << 30))
    return InvalidArgument("max_doc_bytes: must be 0..1 GiB");
  if (o.max_name_bytes < 1 || o.max_name_bytes > 4096)
    return InvalidArgument("max_name_bytes: must be 1..4096");
  if (o.max_event_text_bytes < 1 || o.max_event_text_bytes > (1 << 20))
    return InvalidArgument("max_event_text_bytes: must be 1..1 MiB");
  if (o.max_events_page < 1) return InvalidArgument("max_events_page: must be at least 1");
  if (o.pg_pool_size < 1 || o.pg_pool_size > 256) return InvalidArgument("pg_pool_size: must be 1..256");
  if (o.pg_connect_timeout_s < 1) return InvalidArgument("pg_connect_timeout_s: must be at least 1");
  if (o.pg_schema.empty() || o.pg_schema.size() > 63)
    return InvalidArgument("pg_schema: must be 1..63 characters");
  for (size_t i = 0; i < o.pg_schema.size(); ++i) {
    const char c = o.pg_schema[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return InvalidArgument("pg_schema: must match [a-z_][a-z0-9_]*");
  }
  return Status::Ok();
}

Status Conflict(DocKind kind, std::string_view name, int64_t expected, std::optional<int64_t> current) {
  std::string m = "conflict: " + std::string(DocKindName(kind)) + " " + Quoted(name);
  if (!current) return Aborted(m + " does not exist (expected revision " + std::to_string(expected) + ")");
  if (expected == 0) return Aborted(m + " already exists (revision " + std::to_string(*current) + ")");
  return Aborted(m + " is at revision " + std::to_string(*current) + ", not " + std::to_string(expected));
}

}  // namespace store_internal

StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url, const StoreOptions& options) {
  RETURN_IF_ERROR(store_internal::CheckOptions(options));
  if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
    return store_internal::OpenPostgresStore(std::string(url), options);
  std::string_view path = url;
  if (path.starts_with("sqlite:")) path.remove_prefix(7);
  if (path.empty()) return InvalidArgument("store: empty path (sqlite:PATH or postgresql://...)");
  if (path.find('\0') != std::string_view::npos) return InvalidArgument("store: the path holds a NUL byte");
  return store_internal::OpenSqliteStore(std::string(path), options);
}

}  // namespace continuum::fleet
