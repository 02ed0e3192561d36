// The hub's persistence: its state as JSON documents (nodes, deployments, rollouts and the signed
// desired state last issued per node; the hub and rollout code own the JSON, the store keeps it as
// text), an event log, per-node desired-state sequences and leader leases.
//
// Two backends behind one interface: SQLite (a file, the default; one hub) and PostgreSQL (several
// hub replicas sharing one state). Contracts, the same for both:
//   - Every document has a revision: 1 when created, +1 on each write. Put writes only when the
//     caller names the stored revision (optimistic concurrency): two replicas that read revision 4
//     and both write get one success (5) and one kAborted "conflict: ...", never a lost update.
//     Upsert is last-writer-wins for heartbeat-like updates.
//   - NextSequence, AppendEvent and ChangeCounter are atomic across replicas: a sequence number or
//     event id is never handed out twice, and event ids become visible in increasing order.
//   - A lease has at most one live holder; only the holder of "rollouts" drives rollouts.
//   - Every write is durable when acknowledged (SQLite: WAL + synchronous=FULL; PostgreSQL: commit).
//   - Thread-safe: one Store is shared by all of the hub's threads.
//   - Bounded: names 1..max_name_bytes printable ASCII, documents up to max_doc_bytes of UTF-8 (no NUL),
//     an event's kind up to max_event_text_bytes (a longer reason is cut there, ending "..."); a page
//     of events at most max_events_page. Bad input is kInvalidArgument
//     (kPayloadTooLarge for a document over the limit), naming the field.
//   - Schema versioned (table schema_version); a database written by a newer build is refused.
// Errors: kAborted a revision conflict; kNotFound a missing document on Delete; kUnavailable the
// database is unreachable or locked beyond busy_timeout_ms (the caller may retry); kFailedPrecondition
// a schema from a newer build; kInternal anything else.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum::fleet {

enum class DocKind {
  kNode,
  kDeployment,
  kRollout,
  kDesiredState
};  // kDesiredState: the signed envelope last issued per node

// "node", "deployment", "rollout", "desired_state": the kind's name in the schema and in errors.
std::string_view DocKindName(DocKind kind);

struct Doc {
  std::string name;
  std::string json;
  int64_t revision = 0;
  int64_t updated_ms = 0;
};

struct Event {
  int64_t id = 0;
  int64_t at_ms = 0;
  std::string subject;  // "deployment/add-sub", "node/edge-1", "hub"
  std::string kind;
  std::string reason;
};

// Delete's expected_revision that deletes whatever revision is stored.
inline constexpr int64_t kAnyRevision = -1;

class Store {
 public:
  virtual ~Store() = default;
  virtual StatusOr<std::optional<Doc>> Get(DocKind kind, std::string_view name) = 0;
  virtual StatusOr<std::vector<Doc>> List(DocKind kind) = 0;  // by name
  // Writes when the stored revision equals `expected_revision` (0: the document must not exist
  // yet); returns the new revision (old + 1). kAborted "conflict: ..." otherwise.
  virtual StatusOr<int64_t> Put(DocKind kind, std::string_view name, std::string_view json,
                                int64_t expected_revision, int64_t now_ms) = 0;
  // Like Put but without the revision check (last writer wins): for node heartbeat-like updates.
  virtual StatusOr<int64_t> Upsert(DocKind kind, std::string_view name, std::string_view json,
                                   int64_t now_ms) = 0;
  // kAborted on conflict, kNotFound when there is no such document; kAnyRevision skips the check.
  virtual Status Delete(DocKind kind, std::string_view name, int64_t expected_revision) = 0;
  // Atomically increments and returns the node's desired-state sequence (1 the first time).
  virtual StatusOr<int64_t> NextSequence(std::string_view node) = 0;
  virtual StatusOr<int64_t> AppendEvent(const Event& e) = 0;  // returns the id (increasing)
  // Events with id > after_id, oldest first, at most `limit` (capped at max_events_page);
  // subject "" = all.
  virtual StatusOr<std::vector<Event>> Events(int64_t after_id, int64_t limit,
                                              std::string_view subject = {}) = 0;
  // Leader lease `lease` (e.g. "rollouts"): true when `holder` holds it now (took a free or
  // expired lease, or renewed its own) until now_ms + ttl_ms; false when another holder's lease is live.
  virtual StatusOr<bool> TryLease(std::string_view lease, std::string_view holder, int64_t now_ms,
                                  int64_t ttl_ms) = 0;
  // Gives the lease up when `holder` holds it (nothing to do otherwise).
  virtual Status ReleaseLease(std::string_view lease, std::string_view holder) = 0;
  // A change counter across document kinds, incremented by every Put, Upsert and Delete, for
  // replicas to notice writes made by others: returns the current counter.
  virtual StatusOr<int64_t> ChangeCounter() = 0;
  virtual std::string_view backend() const = 0;  // "sqlite" | "postgresql"
};

struct StoreOptions {
  int64_t busy_timeout_ms = 5000;  // SQLite busy timeout; PostgreSQL lock_timeout
  int64_t max_events = 1000000;    // oldest pruned beyond
  int64_t max_doc_bytes = 16 << 20;
  int64_t max_name_bytes = 256;         // document, node, lease and holder names; event subjects
  int64_t max_event_text_bytes = 4096;  // an event's kind (refused beyond) and reason (cut beyond)
  int64_t max_events_page = 10000;      // Events' limit is capped here
  // PostgreSQL only: the schema the tables live in; connections kept open (calls beyond wait);
  // seconds to wait for a connection.
  std::string pg_schema = "continuum_fleet";
  int pg_pool_size = 4;
  int pg_connect_timeout_s = 10;
};

// "sqlite:PATH" (or a bare path; ":memory:" a private in-memory database) |
// "postgresql://..." / "postgres://..." (libpq connection URI).
StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url, const StoreOptions& options = {});

}  // namespace continuum::fleet
