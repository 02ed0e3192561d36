// The desired-state payload, its DSSE envelope and the acceptance rules (desired_state.h).
#include "fleet/state/desired_state.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "common/base64.h"
#include "common/config_reader.h"
#include "common/json_writer.h"
#include "common/sha256.h"

namespace continuum::fleet {
namespace {

constexpr int64_t kMinYear = 1970, kMaxYear = 9999;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t y, m, d;
};
Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp + (mp < 10 ? 3 : -9);
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int64_t DaysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// `n` decimal digits at `pos` of `t`, or -1.
int64_t Digits(std::string_view t, size_t pos, size_t n) {
  if (pos + n > t.size()) return -1;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (t[i] < '0' || t[i] > '9') return -1;
    v = v * 10 + (t[i] - '0');
  }
  return v;
}

bool IsHexDigest(std::string_view d) {
  constexpr std::string_view kPrefix = "sha256:";
  if (d.size() != kPrefix.size() + 64 || d.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(d.begin() + kPrefix.size(), d.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

StatusOr<std::string> BoundedString(const config::Reader& r, config::Element e, std::string_view field,
                                    int64_t max_bytes) {
  ASSIGN_OR_RETURN(std::string s, r.String(e, field, /*nonempty=*/true));
  if (static_cast<int64_t>(s.size()) > max_bytes)
    return r.Err(field, "longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

StatusOr<Target> ParseTarget(const config::Reader& r, config::Element e, const std::string& where,
                             const DesiredStateLimits& limits) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(r.CheckKeys(o, where, {"model", "package", "digest", "deployment"}));
  Target t;
  ASSIGN_OR_RETURN(auto model, r.Required(o, where, "model"));
  ASSIGN_OR_RETURN(t.model, BoundedString(r, model, config::Key(where, "model"), 128));
  if (!ValidModelName(t.model))
    return r.Err(config::Key(where, "model"),
                 Quoted(t.model) + " is not a model name (A-Z a-z 0-9 _ - ., not starting with .)");
  ASSIGN_OR_RETURN(auto digest, r.Required(o, where, "digest"));
  ASSIGN_OR_RETURN(t.digest, BoundedString(r, digest, config::Key(where, "digest"), 71));
  if (!IsHexDigest(t.digest)) return r.Err(config::Key(where, "digest"), "not sha256:<64 lower-case hex>");
  ASSIGN_OR_RETURN(auto package, r.Required(o, where, "package"));
  ASSIGN_OR_RETURN(t.package,
                   BoundedString(r, package, config::Key(where, "package"), limits.max_field_bytes));
  const std::string suffix = "@" + t.digest;
  if (t.package.size() <= suffix.size() ||
      t.package.compare(t.package.size() - suffix.size(), suffix.size(), suffix) != 0)
    return r.Err(config::Key(where, "package"), Quoted(t.package) + " is not <repository>@" + t.digest);
  if (t.package.find('@') != t.package.size() - suffix.size())
    return r.Err(config::Key(where, "package"), "more than one '@'");
  ASSIGN_OR_RETURN(auto deployment, r.Required(o, where, "deployment"));
  ASSIGN_OR_RETURN(t.deployment,
                   BoundedString(r, deployment, config::Key(where, "deployment"), limits.max_field_bytes));
  return t;
}

StatusOr<std::vector<Target>> ParseTargets(const config::Reader& r, config::Element e,
                                           const DesiredStateLimits& limits) {
  ASSIGN_OR_RETURN(config::Array a, r.Array(e, "targets"));
  if (static_cast<int64_t>(a.size()) > limits.max_targets)
    return r.Err("targets", "more than " + std::to_string(limits.max_targets) + " targets");
  std::vector<Target> out;
  size_t i = 0;
  for (config::Element t : a) {
    ASSIGN_OR_RETURN(Target target, ParseTarget(r, t, config::Index("targets", i), limits));
    out.push_back(std::move(target));
    ++i;
  }
  std::sort(out.begin(), out.end(), [](const Target& a, const Target& b) { return a.model < b.model; });
  for (size_t k = 1; k < out.size(); ++k)
    if (out[k].model == out[k - 1].model)
      return r.Err("targets", "two targets for model " + Quoted(out[k].model) + " (at most one per model)");
  return out;
}

StatusOr<int64_t> ParseTimeField(const config::Reader& r, config::Object o, std::string_view key) {
  ASSIGN_OR_RETURN(auto e, r.Required(o, "", key));
  ASSIGN_OR_RETURN(std::string text, BoundedString(r, e, key, 64));
  auto ms = ParseTimeMs(text);
  if (!ms.ok()) return r.Err(key, ms.status().message());
  return *ms;
}

std::optional<std::string> DecodeBase64Any(std::string_view text) {
  std::string s(text);
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  return Base64Decode(s);
}

}  // namespace

bool ValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  const char c0 = name[0];
  if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9'))) return false;
  return std::all_of(name.begin(), name.end(), NameChar);
}

bool ValidModelName(std::string_view name) {
  return !name.empty() && name.size() <= 128 && name[0] != '.' &&
         std::all_of(name.begin(), name.end(), NameChar);
}

std::string FormatTimeMs(int64_t unix_ms) {
  int64_t days = unix_ms >= 0 ? unix_ms / 86400000 : -((-unix_ms + 86399999) / 86400000);
  int64_t rest = unix_ms - days * 86400000;
  Civil c = CivilFromDays(days);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(c.y), static_cast<long long>(c.m), static_cast<long long>(c.d),
                static_cast<long long>(rest / 3600000), static_cast<long long>(rest / 60000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return buf;
}

StatusOr<int64_t> ParseTimeMs(std::string_view t) {
  const auto bad = [&] {
    return InvalidArgument(Quoted(t) + " is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS.sssZ)");
  };
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':')
    return bad();
  const int64_t y = Digits(t, 0, 4), mo = Digits(t, 5, 2), d = Digits(t, 8, 2);
  const int64_t h = Digits(t, 11, 2), mi = Digits(t, 14, 2), s = Digits(t, 17, 2);
  if (y < kMinYear || y > kMaxYear || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, mo) || h < 0 ||
      h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
    return bad();
  size_t pos = 19;
  int64_t ms = 0;
  if (t[pos] == '.') {
    size_t n = 0;
    while (pos + 1 + n < t.size() && t[pos + 1 + n] >= '0' && t[pos + 1 + n] <= '9') ++n;
    if (n == 0 || n > 9) return bad();
    for (size_t i = 0; i < 3; ++i) ms = ms * 10 + (i < n ? t[pos + 1 + i] - '0' : 0);
    pos += 1 + n;
  }
  if (pos + 1 != t.size() || t[pos] != 'Z') return bad();
  return ((DaysFromCivil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000 + ms;
}

std::string DesiredStateJson(const DesiredState& s) {
  std::vector<Target> targets = s.targets;
  std::sort(targets.begin(), targets.end(),
            [](const Target& a, const Target& b) { return a.model < b.model; });
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("schema_version").Int(1);
  w.Key("type").String(kDesiredStateType);
  w.Key("node").String(s.node);
  w.Key("sequence").Int(s.sequence);
  w.Key("issued").String(FormatTimeMs(s.issued_ms));
  w.Key("expires").String(FormatTimeMs(s.expires_ms));
  w.Key("targets").BeginArray();
  for (const Target& t : targets) {
    w.BeginObject();
    w.Key("model").String(t.model);
    w.Key("package").String(t.package);
    w.Key("digest").String(t.digest);
    w.Key("deployment").String(t.deployment);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

StatusOr<DesiredState> ParseDesiredState(std::string_view json, const DesiredStateLimits& limits) {
  config::Reader r("desired state: ", 8);
  if (static_cast<int64_t>(json.size()) > limits.max_payload_bytes)
    return PayloadTooLarge("desired state: larger than " + std::to_string(limits.max_payload_bytes) +
                           " bytes");
  ASSIGN_OR_RETURN(config::Object o, r.ParseObject(json, {"schema_version", "type", "node", "sequence",
                                                          "issued", "expires", "targets"}));
  ASSIGN_OR_RETURN(auto version, r.Required(o, "", "schema_version"));
  RETURN_IF_ERROR(r.Int(version, "schema_version", 1, 1).status());
  ASSIGN_OR_RETURN(auto type, r.Required(o, "", "type"));
  ASSIGN_OR_RETURN(std::string type_text, r.String(type, "type"));
  if (type_text != kDesiredStateType)
    return r.Err("type", Quoted(type_text) + " is not " + std::string(kDesiredStateType));
  DesiredState s;
  ASSIGN_OR_RETURN(auto node, r.Required(o, "", "node"));
  ASSIGN_OR_RETURN(s.node, BoundedString(r, node, "node", 63));
  if (!ValidNodeName(s.node))
    return r.Err("node", Quoted(s.node) + " is not a node name ([A-Za-z0-9][A-Za-z0-9._-]{0,62})");
  ASSIGN_OR_RETURN(auto sequence, r.Required(o, "", "sequence"));
  ASSIGN_OR_RETURN(s.sequence, r.Int(sequence, "sequence", 1, INT64_MAX));
  ASSIGN_OR_RETURN(s.issued_ms, ParseTimeField(r, o, "issued"));
  ASSIGN_OR_RETURN(s.expires_ms, ParseTimeField(r, o, "expires"));
  if (s.expires_ms <= s.issued_ms) return r.Err("expires", "not after issued");
  ASSIGN_OR_RETURN(auto targets, r.Required(o, "", "targets"));
  ASSIGN_OR_RETURN(s.targets, ParseTargets(r, targets, limits));
  return s;
}

std::string DssePae(std::string_view payload_type, std::string_view body) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(body.size());
  out += ' ';
  out += body;
  return out;
}

StatusOr<std::string> KeyId(std::string_view public_key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(public_key_pem.data(), static_cast<int>(public_key_pem.size())), &BIO_free);
  if (!bio || public_key_pem.size() > (1 << 20)) return InvalidArgument("public key: cannot be read");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key) {
    ERR_clear_error();
    return InvalidArgument("public key: not a PEM PUBLIC KEY");
  }
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key.get(), &der);
  if (n <= 0) {
    ERR_clear_error();
    return InvalidArgument("public key: cannot be encoded as DER");
  }
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return Sha256Hex(bytes);
}

StatusOr<std::string> SignDesiredState(const DesiredState& s, const signing::PrivateKey& key) {
  const std::string payload = DesiredStateJson(s);
  ASSIGN_OR_RETURN(std::string sig, key.Sign(DssePae(kDesiredStatePayloadType, payload)));
  ASSIGN_OR_RETURN(std::string pem, key.PublicKeyPem());
  ASSIGN_OR_RETURN(std::string keyid, KeyId(pem));
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("payloadType").String(kDesiredStatePayloadType);
  w.Key("payload").String(Base64Encode(payload));
  w.Key("signatures").BeginArray().BeginObject();
  w.Key("keyid").String(keyid).Key("sig").String(Base64Encode(sig));
  w.EndObject().EndArray();
  w.EndObject();
  return out;
}

StatusOr<VerifiedDesiredState> VerifyDesiredStateEnvelope(std::string_view envelope,
                                                          const signing::PublicKey& key,
                                                          std::string_view node,
                                                          const DesiredStateLimits& limits) {
  if (static_cast<int64_t>(envelope.size()) > limits.max_envelope_bytes)
    return PayloadTooLarge("desired state envelope: larger than " +
                           std::to_string(limits.max_envelope_bytes) + " bytes");
  config::Reader r("desired state envelope: ", 8);
  config::Object o;
  RETURN_IF_ERROR(r.Parse(envelope, &o));  // unknown fields ignored, as DSSE asks
  ASSIGN_OR_RETURN(auto type_e, r.Required(o, "", "payloadType"));
  ASSIGN_OR_RETURN(std::string type, r.String(type_e, "payloadType"));
  if (type != kDesiredStatePayloadType)
    return r.Err("payloadType", Quoted(type) + " is not " + std::string(kDesiredStatePayloadType));
  ASSIGN_OR_RETURN(auto payload_e, r.Required(o, "", "payload"));
  ASSIGN_OR_RETURN(std::string payload_b64, r.String(payload_e, "payload"));
  std::optional<std::string> payload = DecodeBase64Any(payload_b64);
  if (!payload) return r.Err("payload", "not base64");
  ASSIGN_OR_RETURN(auto sigs_e, r.Required(o, "", "signatures"));
  ASSIGN_OR_RETURN(config::Array sigs, r.Array(sigs_e, "signatures"));
  if (sigs.size() == 0) return r.Err("signatures", "empty: the document is not signed");
  if (static_cast<int64_t>(sigs.size()) > limits.max_signatures)
    return r.Err("signatures", "more than " + std::to_string(limits.max_signatures));
  const std::string pae = DssePae(type, *payload);
  bool verified = false;
  size_t i = 0;
  for (config::Element e : sigs) {
    const std::string where = config::Index("signatures", i++);
    ASSIGN_OR_RETURN(config::Object so, r.Object(e, where));
    ASSIGN_OR_RETURN(auto sig_e, r.Required(so, where, "sig"));
    ASSIGN_OR_RETURN(std::string sig_b64, r.String(sig_e, config::Key(where, "sig")));
    std::optional<std::string> sig = DecodeBase64Any(sig_b64);
    if (!sig) return r.Err(config::Key(where, "sig"), "not base64");
    verified = verified || key.Verify(pae, *sig);
  }
  if (!verified)
    return FailedPrecondition("desired state envelope: no signature verifies with the hub's key");
  ASSIGN_OR_RETURN(DesiredState s, ParseDesiredState(*payload, limits));
  if (s.node != node)
    return FailedPrecondition("desired state: node: the document is for " + Quoted(s.node) +
                              ", this node is " + Quoted(node));
  return VerifiedDesiredState{std::move(s), Sha256Hex(*payload)};
}

StatusOr<DesiredState> VerifyDesiredState(std::string_view envelope, const signing::PublicKey& key,
                                          std::string_view node, const DesiredStateLimits& limits) {
  ASSIGN_OR_RETURN(VerifiedDesiredState v, VerifyDesiredStateEnvelope(envelope, key, node, limits));
  return std::move(v.state);
}

Acceptance Accept(const DesiredState& s, std::string_view payload_sha256, int64_t highest_sequence,
                  std::string_view highest_payload_sha256, int64_t now_ms) {
  if (s.sequence < highest_sequence) return Acceptance::kReplay;
  if (s.sequence == highest_sequence)
    return payload_sha256 == highest_payload_sha256 ? Acceptance::kUnchanged : Acceptance::kReplay;
  if (s.expires_ms <= now_ms) return Acceptance::kExpired;
  return Acceptance::kApply;
}

std::string_view AcceptanceName(Acceptance a) {
  switch (a) {
    case Acceptance::kApply: return "apply";
    case Acceptance::kUnchanged: return "unchanged";
    case Acceptance::kReplay: return "replay";
    case Acceptance::kExpired: return "expired";
  }
  return "unknown";
}

}  // namespace continuum::fleet
