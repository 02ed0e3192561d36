#include "fleet/state/desired_state.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/base64.h"
#include "common/sha256.h"

namespace continuum::fleet {
namespace {

const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');

DesiredState Sample() {
  DesiredState s;
  s.node = "edge-1";
  s.sequence = 7;
  s.issued_ms = 1765000000123;
  s.expires_ms = 1765000000123 + 86400000;
  s.targets = {{"mlp", "127.0.0.1:5000/models/mlp@" + kDigestB, kDigestB, "mlp-prod"},
               {"add_sub", "127.0.0.1:5000/models/add_sub@" + kDigestA, kDigestA, "adds"}};
  return s;
}

std::unique_ptr<signing::PrivateKey> NewKey() {
  auto k = signing::PrivateKey::Generate();
  EXPECT_TRUE(k.ok()) << k.status().ToString();
  return std::move(*k);
}

std::unique_ptr<signing::PublicKey> PublicOf(const signing::PrivateKey& k) {
  auto pem = k.PublicKeyPem();
  EXPECT_TRUE(pem.ok());
  auto p = signing::PublicKey::FromPem(*pem);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

// Replaces the first `from` of `text` by `to`.
std::string Replace(std::string text, std::string_view from, std::string_view to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// The payload field of an envelope, decoded.
std::string PayloadOf(const std::string& envelope) {
  const std::string key = "\"payload\":\"";
  size_t b = envelope.find(key) + key.size();
  size_t e = envelope.find('"', b);
  return *Base64Decode(envelope.substr(b, e - b));
}

std::string WithPayload(const std::string& envelope, const std::string& payload) {
  const std::string key = "\"payload\":\"";
  size_t b = envelope.find(key) + key.size();
  size_t e = envelope.find('"', b);
  std::string out = envelope;
  out.replace(b, e - b, Base64Encode(payload));
  return out;
}

TEST(DesiredStateTest, JsonRoundTripSortsTargets) {
  DesiredState s = Sample();
  std::string json = DesiredStateJson(s);
  EXPECT_LT(json.find("\"add_sub\""), json.find("\"mlp\""));
  EXPECT_NE(json.find("\"issued\":\"2025-12-06T05:46:40.123Z\""), std::string::npos) << json;
  auto back = ParseDesiredState(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->node, "edge-1");
  EXPECT_EQ(back->sequence, 7);
  EXPECT_EQ(back->issued_ms, s.issued_ms);
  EXPECT_EQ(back->expires_ms, s.expires_ms);
  ASSERT_EQ(back->targets.size(), 2u);
  EXPECT_EQ(back->targets[0], s.targets[1]);
  EXPECT_EQ(back->targets[1], s.targets[0]);
  EXPECT_EQ(DesiredStateJson(*back), json);
}

TEST(DesiredStateTest, TimeFormatAndParse) {
  EXPECT_EQ(FormatTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(951782400000 + 1), "2000-02-29T00:00:00.001Z");
  EXPECT_EQ(*ParseTimeMs("2000-02-29T00:00:00.001Z"), 951782400001);
  EXPECT_EQ(*ParseTimeMs("2000-02-29T00:00:00Z"), 951782400000);
  EXPECT_EQ(*ParseTimeMs("2000-02-29T00:00:00.123456789Z"), 951782400123);
  for (int64_t ms : {int64_t{0}, int64_t{1765000000123}, int64_t{253402300799999}})
    EXPECT_EQ(*ParseTimeMs(FormatTimeMs(ms)), ms);
  for (const char* bad :
       {"2001-02-29T00:00:00Z", "2000-13-01T00:00:00Z", "2000-01-01T24:00:00Z", "2000-01-01T00:00:00+01:00",
        "2000-01-01 00:00:00Z", "2000-01-01T00:00:00.Z", "1969-12-31T23:59:59Z",
        "2000-01-01T00:00:00.1234567890Z", "", "2000-01-01T00:00:00z"})
    EXPECT_FALSE(ParseTimeMs(bad).ok()) << bad;
}

TEST(DesiredStateTest, StrictParseNamesTheField) {
  const std::string good = DesiredStateJson(Sample());
  struct Case {
    std::string json, field;
  };
  const std::vector<Case> cases = {
      {Replace(good, "\"schema_version\":1", "\"schema_version\":2"), "schema_version"},
      {Replace(good, "continuum-desired-state", "other"), "type"},
      {Replace(good, "\"node\":\"edge-1\"", "\"node\":\"-x\""), "node"},
      {Replace(good, "\"sequence\":7", "\"sequence\":0"), "sequence"},
      {Replace(good, "\"sequence\":7", "\"sequence\":7,\"extra\":1"), "extra"},
      {Replace(good, "\"deployment\":\"adds\"", "\"deployment\":\"adds\",\"x\":1"), "targets[0].x"},
      {Replace(good, "\"digest\":\"sha256:aaaa", "\"digest\":\"sha256:Aaaa"), "targets[0].digest"},
      {Replace(good, "add_sub@sha256", "add_sub@sha512"), "targets[0].package"},
      {Replace(good, "\"model\":\"add_sub\"", "\"model\":\".hidden\""), "targets[0].model"},
      {Replace(good, "\"model\":\"mlp\"", "\"model\":\"add_sub\""), "two targets for model"},
      {Replace(good, "\"expires\":\"2025-12-07", "\"expires\":\"2025-12-05"), "expires"},
      {Replace(good, "\"issued\":\"2025-12-06T05:46:40.123Z\"", "\"issued\":1"), "issued"},
      {Replace(good, "\"model\":\"add_sub\",", ""), "targets[0].model: required"},
      {"[]", "expected an object"},
      {"{", "not valid JSON"},
  };
  for (const Case& c : cases) {
    auto s = ParseDesiredState(c.json);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_NE(s.status().message().find(c.field), std::string::npos) << s.status().message();
  }
}

TEST(DesiredStateTest, LimitsOnCountsAndSizes) {
  DesiredStateLimits limits;
  limits.max_targets = 1;
  auto s = ParseDesiredState(DesiredStateJson(Sample()), limits);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("more than 1 targets"), std::string::npos) << s.status().message();
  limits = {};
  limits.max_payload_bytes = 100;
  EXPECT_EQ(ParseDesiredState(DesiredStateJson(Sample()), limits).status().code(),
            StatusCode::kPayloadTooLarge);
  limits = {};
  limits.max_field_bytes = 10;
  EXPECT_FALSE(ParseDesiredState(DesiredStateJson(Sample()), limits).ok());
}

TEST(DesiredStateTest, PaeAsDsseDefinesIt) {
  // The DSSE protocol's own example.
  EXPECT_EQ(DssePae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(DssePae("", ""), "DSSEv1 0  0 ");
}

TEST(DesiredStateTest, SignVerifyRoundTrip) {
  auto key = NewKey();
  auto pub = PublicOf(*key);
  auto env = SignDesiredState(Sample(), *key);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_NE(env->find(std::string(kDesiredStatePayloadType)), std::string::npos);
  auto v = VerifyDesiredStateEnvelope(*env, *pub, "edge-1");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->state.sequence, 7);
  EXPECT_EQ(v->state.targets.size(), 2u);
  EXPECT_EQ(v->payload_sha256, Sha256Hex(DesiredStateJson(Sample())));
  auto pem = key->PublicKeyPem();
  auto id = KeyId(*pem);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->size(), 64u);
  EXPECT_NE(env->find("\"keyid\":\"" + *id + "\""), std::string::npos) << *env;
  EXPECT_TRUE(VerifyDesiredState(*env, *pub, "edge-1").ok());
}

TEST(DesiredStateTest, TamperedPayloadTypeSignatureRefused) {
  auto key = NewKey();
  auto pub = PublicOf(*key);
  const std::string env = *SignDesiredState(Sample(), *key);
  // Payload: a different sequence, validly encoded.
  std::string payload = Replace(PayloadOf(env), "\"sequence\":7", "\"sequence\":8");
  auto v = VerifyDesiredState(WithPayload(env, payload), *pub, "edge-1");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("no signature verifies"), std::string::npos) << v.status().message();
  // Type: another payload type is refused by name; the same bytes under a type of the same
  // length would fail the signature.
  v = VerifyDesiredState(Replace(env, "desired-state.v1", "desired-state.v2"), *pub, "edge-1");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("payloadType"), std::string::npos) << v.status().message();
  // Signature: one byte changed (the base64 of a DER signature starts "ME").
  const size_t at = env.find("\"sig\":\"") + 10;
  std::string bad = env;
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyDesiredState(bad, *pub, "edge-1").ok());
  // No signatures.
  v = VerifyDesiredState(Replace(env, env.substr(env.find("\"signatures\":")), "\"signatures\":[]}"), *pub,
                         "edge-1");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("not signed"), std::string::npos) << v.status().message();
  // Not base64.
  EXPECT_FALSE(VerifyDesiredState(Replace(env, "\"payload\":\"", "\"payload\":\"*"), *pub, "edge-1").ok());
}

TEST(DesiredStateTest, OtherKeyRefusedAnyGoodSignatureAccepted) {
  auto key = NewKey();
  auto other = NewKey();
  const std::string env = *SignDesiredState(Sample(), *key);
  auto v = VerifyDesiredState(env, *PublicOf(*other), "edge-1");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  // Two signatures, the other key's first: the hub's still verifies.
  const std::string env2 = *SignDesiredState(Sample(), *other);
  const std::string sig2 = env2.substr(env2.find("[{") + 1, env2.find("}]") - env2.find("[{"));
  std::string both = Replace(env, "\"signatures\":[", "\"signatures\":[" + sig2 + ",");
  EXPECT_TRUE(VerifyDesiredState(both, *PublicOf(*key), "edge-1").ok()) << both;
}

TEST(DesiredStateTest, WrongNodeRefused) {
  auto key = NewKey();
  const std::string env = *SignDesiredState(Sample(), *key);
  auto v = VerifyDesiredState(env, *PublicOf(*key), "edge-2");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("node"), std::string::npos) << v.status().message();
}

TEST(DesiredStateTest, EnvelopeIgnoresUnknownFieldsAndTakesUrlSafeBase64) {
  auto key = NewKey();
  std::string env = *SignDesiredState(Sample(), *key);
  env = Replace(env, "{\"payloadType\"", "{\"future\":{\"x\":1},\"payloadType\"");
  EXPECT_TRUE(VerifyDesiredState(env, *PublicOf(*key), "edge-1").ok());
  // The base64 strings (payload and sig) in the URL-safe alphabet.
  for (std::string key : {"\"payload\":\"", "\"sig\":\""}) {
    const size_t b = env.find(key) + key.size(), e = env.find('"', b);
    for (size_t i = b; i < e; ++i) {
      if (env[i] == '+') env[i] = '-';
      if (env[i] == '/') env[i] = '_';
    }
  }
  EXPECT_TRUE(VerifyDesiredState(env, *PublicOf(*key), "edge-1").ok());
  DesiredStateLimits limits;
  limits.max_envelope_bytes = 10;
  EXPECT_EQ(VerifyDesiredState(env, *PublicOf(*key), "edge-1", limits).status().code(),
            StatusCode::kPayloadTooLarge);
}

TEST(DesiredStateTest, KeyIdIsShaOfDer) {
  EXPECT_FALSE(KeyId("not a key").ok());
  auto key = NewKey();
  auto pem = *key->PublicKeyPem();
  // The DER is the PEM body, base64-decoded.
  std::string body;
  std::string_view rest(pem);
  rest.remove_prefix(rest.find('\n') + 1);
  rest = rest.substr(0, rest.find("-----END"));
  for (char c : rest)
    if (c != '\n') body += c;
  EXPECT_EQ(*KeyId(pem), Sha256Hex(*Base64Decode(body)));
}

// An envelope made outside this code (Python for the PAE and the JSON, `openssl dgst -sha256
// -sign` for the signature; the fuzz corpus's seed) verifies: the PAE and the encodings agree
// with an independent implementation.
TEST(DesiredStateTest, VerifiesAnEnvelopeSignedElsewhere) {
  constexpr std::string_view kKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgomdcE7p+SKQIvbHg
DkbR4NGYaJ6wWtVtzIKcmQrafV+hRANCAAQ1WXJYT8BkzMt46yVWH6D350EblAqK
Aw1ki7WZsvsn829ckqM0Un9UPKUtpYs06n2+CDkZAF0+zksJZZAZNLOJ
-----END PRIVATE KEY-----
)";
  std::ifstream in(std::string(CONTINUUM_SOURCE_DIR) + "/fuzz/corpus/fleet_state/envelope");
  std::stringstream envelope;
  envelope << in.rdbuf();
  ASSERT_FALSE(envelope.str().empty());
  auto key = signing::PrivateKey::FromPem(kKey, "");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  auto v = VerifyDesiredState(envelope.str(), *PublicOf(**key), "edge-1");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->sequence, 7);
  ASSERT_EQ(v->targets.size(), 2u);
  EXPECT_EQ(v->targets[1].deployment, "mlp-prod");
}

TEST(DesiredStateTest, AcceptEveryCase) {
  DesiredState s = Sample();  // sequence 7, expires issued + 1 day
  const int64_t now = s.issued_ms + 1000;
  EXPECT_EQ(Accept(s, "p7", 0, "", now), Acceptance::kApply);
  EXPECT_EQ(Accept(s, "p7", 6, "p6", now), Acceptance::kApply);
  EXPECT_EQ(Accept(s, "p7", 7, "p7", now), Acceptance::kUnchanged);
  EXPECT_EQ(Accept(s, "p7", 7, "other", now), Acceptance::kReplay);
  EXPECT_EQ(Accept(s, "p7", 8, "p8", now), Acceptance::kReplay);
  EXPECT_EQ(Accept(s, "p7", 6, "p6", s.expires_ms), Acceptance::kExpired);
  EXPECT_EQ(Accept(s, "p7", 6, "p6", s.expires_ms - 1), Acceptance::kApply);
  EXPECT_EQ(Accept(s, "p7", 8, "p8", s.expires_ms + 1), Acceptance::kReplay);
  EXPECT_EQ(AcceptanceName(Acceptance::kExpired), "expired");
}

TEST(DesiredStateTest, NodeAndModelNames) {
  EXPECT_TRUE(ValidNodeName("a"));
  EXPECT_TRUE(ValidNodeName("Edge-1.eu_west"));
  EXPECT_TRUE(ValidNodeName(std::string(63, 'a')));
  EXPECT_FALSE(ValidNodeName(std::string(64, 'a')));
  EXPECT_FALSE(ValidNodeName(""));
  EXPECT_FALSE(ValidNodeName("_a"));
  EXPECT_FALSE(ValidNodeName("a/b"));
  EXPECT_TRUE(ValidModelName("_add-sub.v1"));
  EXPECT_FALSE(ValidModelName(".x"));
  EXPECT_FALSE(ValidModelName("a b"));
  EXPECT_FALSE(ValidModelName(std::string(129, 'm')));
}

}  // namespace
}  // namespace continuum::fleet
