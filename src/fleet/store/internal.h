// Shared by the two backends: input checks (the same limits and messages for both) and the
// constructors OpenStore dispatches to. Not part of the public interface.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "fleet/store/store.h"

namespace continuum::fleet::store_internal {

// The schema version this build writes; a database that records a higher one is refused.
inline constexpr int64_t kSchemaVersion = 1;

// A name (document, node, lease, holder): 1..max_name_bytes bytes of printable ASCII (0x21..0x7e).
Status CheckName(std::string_view name, std::string_view field, const StoreOptions& o);
// A document: at most max_doc_bytes (kPayloadTooLarge), UTF-8 without NUL.
Status CheckDocJson(std::string_view json, const StoreOptions& o);
// An event: subject a name, kind 1..max_event_text_bytes; kind and reason UTF-8 without NUL.
Status CheckEvent(const Event& e, const StoreOptions& o);
// The reason as stored: cut to max_event_text_bytes (at a UTF-8 boundary, ending "...") when longer.
// A reason is text for people; a long one loses its tail rather than the whole event.
std::string StoredReason(std::string_view reason, const StoreOptions& o);
Status CheckLease(std::string_view lease, std::string_view holder, int64_t now_ms, int64_t ttl_ms,
                  const StoreOptions& o);
Status CheckOptions(const StoreOptions& o);

// kAborted "conflict: deployment 'x' is at revision 3, not 2" (or "does not exist", "already exists").
Status Conflict(DocKind kind, std::string_view name, int64_t expected, std::optional<int64_t> current);

StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const StoreOptions& o);
StatusOr<std::unique_ptr<Store>> OpenPostgresStore(const std::string& uri, const StoreOptions& o);

}  // namespace continuum::fleet::store_internal
