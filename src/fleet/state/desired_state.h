// The fleet's desired state: the signed document the hub writes for one node (which model
// packages it must serve) and what an agent does with it.
//
//   payload   JSON {"schema_version": 1, "type": "continuum-desired-state", "node", "sequence",
//             "issued", "expires" (RFC 3339 UTC with milliseconds), "targets": [{"model",
//             "package", "digest", "deployment"}]}, read strictly: unknown fields refused, the
//             digest "sha256:<64 hex>", the package "<repository>@<digest>", at most one target
//             per model, every count and size bounded (DesiredStateLimits).
//   envelope  DSSE v1 (secure-systems-lab/dsse): {"payloadType", "payload": base64, "signatures":
//             [{"keyid", "sig": base64}]}; each sig is ECDSA P-256 SHA-256, ASN.1 DER, over
//             PAE = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body (LEN: decimal byte count).
//             Unknown envelope fields are ignored, as DSSE asks; the keyid is a hint only.
//   accept    TUF-style rules against the highest sequence the agent applied (Accept): never
//             backwards, never the same sequence with another payload, never expired.
//   state     the agent's persistent state (AgentState): the highest sequence applied, the
//             envelope of the last-known-good document and what the agent installed, written
//             atomically (temporary file, fsync, rename, folder fsync).
//
// Nothing here does I/O except SaveAgentState / LoadAgentState; nothing throws.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "signing/signing.h"

namespace continuum::fleet {

struct Target {
  std::string model;       // the repository model name the package installs (e.g. "add_sub")
  std::string package;     // registry reference by digest: "127.0.0.1:5000/models/add_sub@sha256:<hex>"
  std::string digest;      // "sha256:<hex>", the package manifest's digest
  std::string deployment;  // the hub deployment that put it here
  bool operator==(const Target&) const = default;
};

struct DesiredState {
  std::string node;
  int64_t sequence = 0;                   // strictly increasing per node
  int64_t issued_ms = 0, expires_ms = 0;  // unix epoch milliseconds
  std::vector<Target> targets;            // sorted by model, at most one per model
};

inline constexpr std::string_view kDesiredStatePayloadType =
    "application/vnd.continuum.desired-state.v1+json";
inline constexpr std::string_view kDesiredStateType = "continuum-desired-state";

struct DesiredStateLimits {
  int64_t max_envelope_bytes = 4 << 20;
  int64_t max_payload_bytes = 2 << 20;  // the decoded payload
  int64_t max_targets = 4096;
  int64_t max_signatures = 16;
  int64_t max_field_bytes = 1024;  // package, deployment (model: 128, node: 63, as named below)
};

// The payload (schema_version 1), targets written sorted by model.
std::string DesiredStateJson(const DesiredState& s);
// Strict: errors name the field ("desired state: targets[2].digest: ..."). Targets come back
// sorted by model; two targets for one model are refused.
StatusOr<DesiredState> ParseDesiredState(std::string_view json, const DesiredStateLimits& limits = {});

// DSSE envelope signed by `key` (keyid: KeyId of its public key).
StatusOr<std::string> SignDesiredState(const DesiredState& s, const signing::PrivateKey& key);
// Signature by `key` (any of the envelope's signatures), payload type, strict payload, node name.
StatusOr<DesiredState> VerifyDesiredState(std::string_view envelope, const signing::PublicKey& key,
                                          std::string_view node, const DesiredStateLimits& limits = {});

// VerifyDesiredState's result with the lower-case hex SHA-256 of the payload bytes (what Accept
// compares).
struct VerifiedDesiredState {
  DesiredState state;
  std::string payload_sha256;
};
StatusOr<VerifiedDesiredState> VerifyDesiredStateEnvelope(std::string_view envelope,
                                                          const signing::PublicKey& key,
                                                          std::string_view node,
                                                          const DesiredStateLimits& limits = {});

// PAE(type, body) = "DSSEv1 <len(type)> <type> <len(body)> <body>".
std::string DssePae(std::string_view payload_type, std::string_view body);

// The key id written in the envelope: lower-case hex SHA-256 of the public key's DER (SubjectPublicKeyInfo).
StatusOr<std::string> KeyId(std::string_view public_key_pem);

// RFC 3339 UTC with milliseconds: "2026-12-07T02:13:05.123Z". Parse takes 0 to 9 fraction digits
// (milliseconds kept, the rest dropped) and only "Z"; years 1970 to 9999.
std::string FormatTimeMs(int64_t unix_ms);
StatusOr<int64_t> ParseTimeMs(std::string_view text);

// Node names: [A-Za-z0-9][A-Za-z0-9._-]{0,62}. Model names: what a model repository serves, 1 to
// 128 of [A-Za-z0-9_.-], not starting with '.'.
bool ValidNodeName(std::string_view name);
bool ValidModelName(std::string_view name);

// TUF-style acceptance of a verified document by an agent that has applied `highest_sequence`
// (whose payload's SHA-256 was `highest_payload_sha256`):
enum class Acceptance { kApply, kUnchanged, kReplay, kExpired };
//   kApply     sequence > highest and not expired
//   kUnchanged sequence == highest and the same payload (nothing to do)
//   kReplay    sequence < highest, or == highest with a different payload  -> refused
//   kExpired   expires_ms <= now: refused for new installs; the agent keeps serving what it has
// Replay is decided before expiry: an old document is a replay whether or not it expired.
Acceptance Accept(const DesiredState& s, std::string_view payload_sha256, int64_t highest_sequence,
                  std::string_view highest_payload_sha256, int64_t now_ms);
std::string_view AcceptanceName(Acceptance a);  // "apply", "unchanged", "replay", "expired"

// The agent's persistent state: highest sequence applied, the envelope of the last-known-good
// desired state, what it installed.
struct InstalledModel {
  std::string model, digest, package, deployment;
  int64_t since_ms = 0;
  bool operator==(const InstalledModel&) const = default;
};
struct AgentState {
  int64_t highest_sequence = 0;
  std::string payload_sha256;
  std::string envelope;
  std::vector<InstalledModel> installed;
  bool operator==(const AgentState&) const = default;
};

struct AgentStateLimits {
  int64_t max_installed = 4096;
  int64_t max_envelope_bytes = 4 << 20;
  int64_t max_field_bytes = 1024;
};

// agent-state.json: {"schema_version": 1, "highest_sequence", "payload_sha256", "envelope" (the
// DSSE envelope as a string), "installed": [{"model", "digest", "package", "deployment",
// "since_ms"}]}.
std::string AgentStateJson(const AgentState& s);
StatusOr<AgentState> ParseAgentState(std::string_view json, const AgentStateLimits& limits = {});

// Written to a temporary file in the same folder, fsync'd, renamed over `path`, folder fsync'd.
Status SaveAgentState(const std::filesystem::path& path, const AgentState& s);
// nullopt when `path` does not exist; kPayloadTooLarge beyond max_bytes; kInvalidArgument for a
// corrupt file (naming it). Temporary files a killed save left beside it are ignored.
StatusOr<std::optional<AgentState>> LoadAgentState(const std::filesystem::path& path,
                                                   int64_t max_bytes = 16 << 20);

}  // namespace continuum::fleet
