// The HTTP server over TLS (ServerOptions::tls): handshake policy, client certificates as the
// handler sees them, the handshake deadline, reload without dropping connections, close_notify.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/error.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http/server.h"
#include "http/test_client.h"
#include "http/test_tls_client.h"
#include "tls/handshake_stats.h"
#include "tls/server_context.h"
#include "tls/test_pki.h"

namespace continuum::http {
namespace {

using namespace test_support;  // NOLINT
namespace fs = std::filesystem;

// Answers with what the handler saw of TLS, in headers.
void TlsEcho(Request&& req, Responder respond) {
  Response r;
  r.content_type = "text/plain";
  if (req.tls) {
    r.headers = {{"X-Tls-Version", req.tls->version},
                 {"X-Tls-Cipher", req.tls->cipher},
                 {"X-Tls-Alpn", req.tls->alpn},
                 {"X-Client-Verified", req.tls->client_verified ? "1" : "0"},
                 {"X-Client-Subject", req.tls->client_subject},
                 {"X-Client-Cn", req.tls->client_common_name},
                 {"X-Client-Sha256", req.tls->client_sha256},
                 {"X-Tls-Info", std::to_string(reinterpret_cast<uintptr_t>(req.tls.get()))}};
  } else {
    r.headers = {{"X-Tls-Version", "none"}};
  }
  r.body = std::move(req.body);
  respond(std::move(r));
}

constexpr std::string_view kGet = "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n";

class TlsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/continuum-tls-server-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    pki_ = new std::string(tmpl);
    ASSERT_TRUE(tls::testing::WriteTestPki(*pki_).ok());
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(*pki_, ignored);
    delete pki_;
  }
  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    context_.reset();
  }

  static std::string Pki(const std::string& name) { return *pki_ + "/" + name; }

  static tls::ServerTlsOptions TlsOptions(const std::string& leaf = "server") {
    tls::ServerTlsOptions t;
    t.cert_file = Pki(leaf + ".pem");
    t.key_file = Pki(leaf + ".key");
    t.reload_interval = std::chrono::milliseconds(0);
    return t;
  }

  // Starts the server under test over TLS with `t`.
  bool Serve(const tls::ServerTlsOptions& t, ServerOptions o = TestOptions(), Handler h = TlsEcho) {
    auto context = tls::ServerContext::Load(t);
    if (!context.ok()) {
      ADD_FAILURE() << context.status().ToString();
      return false;
    }
    context_ = *context;
    o.tls = context_;
    server_ = StartOrDie(o, std::move(h));
    return server_ != nullptr;
  }
  uint16_t port() const { return server_->port(); }

  TlsClientOptions Trusting() const {
    TlsClientOptions c;
    c.ca_file = Pki("ca.pem");
    return c;
  }
  TlsClientOptions WithClientCert(const std::string& name) const {
    TlsClientOptions c = Trusting();
    c.cert_file = Pki(name + ".pem");
    c.key_file = Pki(name + ".key");
    return c;
  }

  static std::string* pki_;
  std::shared_ptr<tls::ServerContext> context_;
  std::unique_ptr<Server> server_;
};

std::string* TlsServerTest::pki_ = nullptr;

// Polls the listener's handshake counts until they are {ok, failed, timeout, resumed}; false
// (with what they were) when they are not after a minute.
::testing::AssertionResult CountsReach(const Server& server, uint64_t ok, uint64_t failed, uint64_t timeout,
                                       uint64_t resumed) {
  const auto stats = server.tls_stats();
  auto now = [&] {
    using S = tls::HandshakeStats;
    return std::array<uint64_t, 4>{S::Get(stats->ok), S::Get(stats->failed), S::Get(stats->timeout),
                                   S::Get(stats->resumed)};
  };
  const std::array<uint64_t, 4> want{ok, failed, timeout, resumed};
  for (int i = 0; i < 60000 && now() != want; ++i) std::this_thread::sleep_for(1ms);
  const auto got = now();
  if (got == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "ok " << got[0] << " failed " << got[1] << " timeout " << got[2] << " resumed " << got[3];
}

TEST_F(TlsServerTest, ServesRequestsOverKeepAliveAndSharesTlsInfoPerConnection) {
  ASSERT_TRUE(Serve(TlsOptions()));
  TlsClient c(port(), Trusting());
  ASSERT_TRUE(c.Handshake()) << c.error();
  EXPECT_EQ(c.PeerFingerprint(), PemFingerprint(Pki("server.pem")));
  std::string first_info;
  for (int i = 0; i < 3; ++i) {
    const std::string body = "ping " + std::to_string(i);
    auto r =
        c.Exchange("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
                   "\r\n\r\n" + body);
    ASSERT_NO_FATAL_FAILURE(ExpectResponse(r, 200, body));
    EXPECT_EQ(r->H("x-tls-version"), "TLSv1.3");
    EXPECT_EQ(r->H("x-tls-alpn"), "http/1.1");
    EXPECT_EQ(r->H("x-client-verified"), "0");
    EXPECT_EQ(r->H("x-client-subject"), "");
    if (i == 0) first_info = r->H("x-tls-info");
    EXPECT_EQ(r->H("x-tls-info"), first_info) << "one TlsInfo per connection";
  }
}

TEST_F(TlsServerTest, PlainHttpRequestsCarryNoTlsInfo) {
  server_ = StartOrDie(TestOptions(), TlsEcho);
  ASSERT_NE(server_, nullptr);
  Client c(port());
  auto r = c.Exchange(kGet);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->H("x-tls-version"), "none");
}

TEST_F(TlsServerTest, AcceptsTls12AndTls13AndRefusesTls11) {
  ASSERT_TRUE(Serve(TlsOptions()));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsClientOptions o = Trusting();
    o.min_version = o.max_version = version;
    TlsClient c(port(), o);
    ASSERT_TRUE(c.Handshake()) << c.error();
    auto r = c.Exchange(kGet);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->H("x-tls-version"), version == TLS1_2_VERSION ? "TLSv1.2" : "TLSv1.3");
    if (version == TLS1_2_VERSION) {
      EXPECT_EQ(r->H("x-tls-cipher").rfind("ECDHE-", 0), 0u) << r->H("x-tls-cipher");
    }
  }
  TlsClientOptions old = Trusting();
  old.min_version = old.max_version = TLS1_1_VERSION;
  old.tls12_ciphers = "ALL:@SECLEVEL=0";
  TlsClient c(port(), old);
  EXPECT_FALSE(c.Handshake());
}

TEST_F(TlsServerTest, RefusesTls12SuitesWithoutEcdheOrAead) {
  ASSERT_TRUE(Serve(TlsOptions()));
  for (const char* suite : {"ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA", "AES128-GCM-SHA256"}) {
    TlsClientOptions o = Trusting();
    o.min_version = o.max_version = TLS1_2_VERSION;
    o.tls12_ciphers = std::string(suite) + ":@SECLEVEL=0";
    TlsClient c(port(), o);
    EXPECT_FALSE(c.Handshake()) << suite;
  }
}

TEST_F(TlsServerTest, ResumesSessions) {
  ASSERT_TRUE(Serve(TlsOptions()));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    TlsClientOptions o = Trusting();
    o.min_version = o.max_version = version;
    SSL_SESSION* session = nullptr;
    {
      TlsClient first(port(), o);
      ASSERT_TRUE(first.Handshake()) << first.error();
      ASSERT_TRUE(first.Exchange(kGet).has_value());  // TLS 1.3 tickets come after the handshake
      // A copy: the client dropping its connection without close_notify marks the original
      // not resumable.
      session = SSL_SESSION_dup(SSL_get0_session(first.native()));
    }
    ASSERT_NE(session, nullptr);
    o.resume = session;
    TlsClient second(port(), o);
    EXPECT_TRUE(second.Handshake()) << second.error();
    EXPECT_TRUE(SSL_session_reused(second.native())) << version;
    SSL_SESSION_free(session);
  }
}

TEST_F(TlsServerTest, RequireModeRefusesAClientWithoutCertificate) {
  tls::ServerTlsOptions t = TlsOptions();
  t.client_ca_file = Pki("ca.pem");
  t.client_auth = tls::ClientAuth::kRequire;
  ASSERT_TRUE(Serve(t));
  TlsClient c(port(), Trusting());
  // In TLS 1.3 the client finishes its side first: the refusal comes with the first read.
  const bool handshake = c.Handshake();
  EXPECT_FALSE(handshake && c.Exchange(kGet).has_value());
}

TEST_F(TlsServerTest, RequireModeHandsTheVerifiedClientCertificateToTheHandler) {
  tls::ServerTlsOptions t = TlsOptions();
  t.client_ca_file = Pki("ca.pem");
  t.client_auth = tls::ClientAuth::kRequire;
  ASSERT_TRUE(Serve(t));
  TlsClient c(port(), WithClientCert("client"));
  ASSERT_TRUE(c.Handshake()) << c.error();
  auto r = c.Exchange(kGet);
  ASSERT_TRUE(r.has_value()) << c.error();
  EXPECT_EQ(r->H("x-client-verified"), "1");
  EXPECT_EQ(r->H("x-client-subject"), "CN=tenant-a,O=continuum-tests");
  EXPECT_EQ(r->H("x-client-cn"), "tenant-a");
  EXPECT_EQ(r->H("x-client-sha256"), PemFingerprint(Pki("client.pem")));
}

TEST_F(TlsServerTest, RefusesAClientCertificateFromAnotherCa) {
  for (auto auth : {tls::ClientAuth::kRequire, tls::ClientAuth::kOptional}) {
    tls::ServerTlsOptions t = TlsOptions();
    t.client_ca_file = Pki("ca.pem");
    t.client_auth = auth;
    ASSERT_TRUE(Serve(t));
    TlsClient c(port(), WithClientCert("other-ca-client"));
    const bool handshake = c.Handshake();
    EXPECT_FALSE(handshake && c.Exchange(kGet).has_value()) << tls::ClientAuthName(auth);
    TearDown();
  }
}

TEST_F(TlsServerTest, OptionalModeServesClientsWithAndWithoutCertificate) {
  tls::ServerTlsOptions t = TlsOptions();
  t.client_ca_file = Pki("ca.pem");
  t.client_auth = tls::ClientAuth::kOptional;
  ASSERT_TRUE(Serve(t));
  TlsClient anonymous(port(), Trusting());
  ASSERT_TRUE(anonymous.Handshake()) << anonymous.error();
  auto r = anonymous.Exchange(kGet);
  ASSERT_TRUE(r.has_value()) << anonymous.error();
  EXPECT_EQ(r->H("x-client-verified"), "0");
  TlsClient b(port(), WithClientCert("client-b"));
  ASSERT_TRUE(b.Handshake()) << b.error();
  r = b.Exchange(kGet);
  ASSERT_TRUE(r.has_value()) << b.error();
  EXPECT_EQ(r->H("x-client-verified"), "1");
  EXPECT_EQ(r->H("x-client-cn"), "tenant-b");
}

TEST_F(TlsServerTest, ClosesASilentOrStalledHandshakeAtItsDeadline) {
  tls::ServerTlsOptions t = TlsOptions();
  t.handshake_timeout = std::chrono::milliseconds(100);
  ServerOptions o = TestOptions();
  o.header_timeout = std::chrono::seconds(600);  // only the handshake deadline can close them
  o.idle_timeout = std::chrono::seconds(600);
  ASSERT_TRUE(Serve(t, o));
  Client silent(port());
  ASSERT_TRUE(silent.connected());
  Client stalled(port());
  ASSERT_TRUE(stalled.connected());
  // The first bytes of a ClientHello record, never finished.
  ASSERT_TRUE(stalled.Send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  EXPECT_TRUE(silent.WaitClosed(60s));
  EXPECT_TRUE(stalled.WaitClosed(60s));
}

TEST_F(TlsServerTest, CountsHandshakesByOutcome) {
  tls::ServerTlsOptions t = TlsOptions();
  t.handshake_timeout = std::chrono::milliseconds(200);
  ServerOptions o = TestOptions();
  o.header_timeout = std::chrono::seconds(600);  // only the handshake deadline can close them
  o.idle_timeout = std::chrono::seconds(600);
  ASSERT_TRUE(Serve(t, o));
  EXPECT_TRUE(CountsReach(*server_, 0, 0, 0, 0));

  TlsClientOptions c = Trusting();
  c.min_version = c.max_version = TLS1_2_VERSION;
  SSL_SESSION* session = nullptr;
  {
    TlsClient good(port(), c);
    ASSERT_TRUE(good.Handshake()) << good.error();
    ASSERT_TRUE(good.Exchange(kGet).has_value());
    session = SSL_SESSION_dup(SSL_get0_session(good.native()));
  }
  ASSERT_NE(session, nullptr);
  EXPECT_TRUE(CountsReach(*server_, 1, 0, 0, 0));
  c.resume = session;
  {
    TlsClient again(port(), c);
    ASSERT_TRUE(again.Handshake()) << again.error();
    ASSERT_TRUE(again.Exchange(kGet).has_value());
    EXPECT_TRUE(SSL_session_reused(again.native()));
  }
  SSL_SESSION_free(session);
  EXPECT_TRUE(CountsReach(*server_, 2, 0, 0, 1));

  TlsClientOptions old = Trusting();  // a protocol the server refuses
  old.min_version = old.max_version = TLS1_1_VERSION;
  old.tls12_ciphers = "ALL:@SECLEVEL=0";
  TlsClient refused(port(), old);
  EXPECT_FALSE(refused.Handshake());
  EXPECT_TRUE(CountsReach(*server_, 2, 1, 0, 1));

  Client garbage(port());  // plain HTTP on the TLS port
  ASSERT_TRUE(garbage.Send(std::string(kGet)));
  EXPECT_TRUE(garbage.WaitClosed(60s));
  EXPECT_TRUE(CountsReach(*server_, 2, 2, 0, 1));

  Client silent(port());  // never says a word: closed at the handshake deadline
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.WaitClosed(60s));
  EXPECT_TRUE(CountsReach(*server_, 2, 2, 1, 1));
}

TEST_F(TlsServerTest, HandshakesCountAgainstMaxConnections) {
  ServerOptions o = TestOptions();
  o.max_connections = 1;
  ASSERT_TRUE(Serve(TlsOptions(), o));
  Client holder(port());  // holds the one slot, handshake not begun
  ASSERT_TRUE(holder.connected());
  ASSERT_FALSE(holder.Readable(50ms));
  TlsClient refused(port(), Trusting());
  EXPECT_FALSE(refused.Handshake());
}

TEST_F(TlsServerTest, TheHttpLimitsAndTimeoutsApplyAfterTheHandshake) {
  ServerOptions o = TestOptions();
  o.header_timeout = std::chrono::milliseconds(100);
  o.max_body_bytes = 10;
  ASSERT_TRUE(Serve(TlsOptions(), o));
  TlsClient big(port(), Trusting());
  ASSERT_TRUE(big.Handshake()) << big.error();
  auto r = big.Exchange("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n");
  ASSERT_TRUE(r.has_value()) << big.error();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("--max-body-bytes"), std::string::npos) << r->body;

  TlsClient slow(port(), Trusting());
  ASSERT_TRUE(slow.Handshake()) << slow.error();
  ASSERT_TRUE(slow.Send("GET /x HTTP/1.1\r\nHost: loc"));  // never finished
  r = slow.Read(60s);
  ASSERT_TRUE(r.has_value()) << slow.error();
  EXPECT_EQ(r->status, 408);
}

TEST_F(TlsServerTest, SendsCloseNotifyAfterConnectionClose) {
  ASSERT_TRUE(Serve(TlsOptions()));
  TlsClient c(port(), Trusting());
  ASSERT_TRUE(c.Handshake()) << c.error();
  auto r = c.Exchange("GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r.has_value()) << c.error();
  auto end = c.ReadUntilClosed();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, boost::asio::error::eof) << end->message() << " (no close_notify)";
}

TEST_F(TlsServerTest, TheClientLeavingCancelsThePendingRequest) {
  std::mutex mu;
  CancelToken seen;
  Responder parked;
  std::atomic<bool> got{false};
  ASSERT_TRUE(Serve(TlsOptions(), TestOptions(), [&](Request&& req, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    seen = req.cancel;
    parked = std::move(respond);  // never answered until the client left
    got = true;
  }));
  {
    TlsClient c(port(), Trusting());
    ASSERT_TRUE(c.Handshake()) << c.error();
    ASSERT_TRUE(c.Send(kGet));
    while (!got) std::this_thread::yield();
  }
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seen.cancelled()) break;
    }
    std::this_thread::yield();
  }
  std::lock_guard<std::mutex> lock(mu);
  parked = nullptr;
}

// Copies the PKI file `from` over `to` atomically (write aside, rename), as a rotation does.
void Replace(const std::string& from, const std::string& to) {
  const std::string aside = to + ".new";
  fs::copy_file(from, aside, fs::copy_options::overwrite_existing);
  fs::rename(aside, to);
}

TEST_F(TlsServerTest, ReloadServesTheNewCertificateWithoutDroppingOpenConnections) {
  char tmpl[] = "/tmp/continuum-tls-reload-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  Replace(Pki("server.pem"), dir + "/cert.pem");
  Replace(Pki("server.key"), dir + "/key.pem");
  tls::ServerTlsOptions t;
  t.cert_file = dir + "/cert.pem";
  t.key_file = dir + "/key.pem";
  t.reload_interval = std::chrono::milliseconds(10);  // the watcher picks the change up
  ASSERT_TRUE(Serve(t));

  TlsClient before(port(), Trusting());
  ASSERT_TRUE(before.Handshake()) << before.error();
  ASSERT_TRUE(before.Exchange(kGet).has_value());
  EXPECT_EQ(before.PeerFingerprint(), PemFingerprint(Pki("server.pem")));

  // A key without its certificate does not load: the old pair stays.
  Replace(Pki("server2.key"), dir + "/key.pem");
  EXPECT_FALSE(context_->Reload().ok());
  // Then the certificate: the watcher reloads.
  Replace(Pki("server2.pem"), dir + "/cert.pem");
  while (context_->generation() == 0) std::this_thread::yield();

  TlsClient after(port(), Trusting());
  ASSERT_TRUE(after.Handshake()) << after.error();
  EXPECT_EQ(after.PeerFingerprint(), PemFingerprint(Pki("server2.pem")));
  ASSERT_TRUE(after.Exchange(kGet).has_value());
  // The connection opened before the reload still serves.
  ASSERT_TRUE(before.Exchange(kGet).has_value()) << before.error();
  server_->Stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace continuum::http
