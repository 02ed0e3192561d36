// https:// in http::Client against a real TLS peer (Asio over OpenSSL, in this process) and the
// test PKI (tls/test_pki.h): verification and its reasons, mutual TLS, session resumption,
// deadlines during the handshake, per-URL settings.
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "http/client.h"
#include "http/server.h"
#include "tls/client_context.h"
#include "tls/server_context.h"
#include "tls/test_server.h"

namespace continuum::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using tls::testing::Key;
using tls::testing::Pem;
using tls::testing::ServerSettings;
using tls::testing::TlsServer;

std::shared_ptr<const tls::ClientContext> Trusting(tls::ClientTlsOptions o = {}) {
  if (o.ca_file.empty()) o.ca_file = Pem("ca");
  auto c = tls::ClientContext::Create(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}

StatusOr<ClientResponse> Get(Client& client, const std::string& url,
                             std::shared_ptr<const tls::ClientContext> tls = nullptr,
                             std::chrono::milliseconds timeout = 10s) {
  ClientRequest req;
  req.method = "GET";
  req.target = "/who";
  req.tls = std::move(tls);
  return SendAndWait(client, url, req, std::chrono::steady_clock::now() + timeout);
}

TEST(TlsClient, ParsesHttpsUrls) {
  auto u = ParseHttpUrl("https://node.example/pre/");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "node.example");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->prefix, "/pre");
  EXPECT_FALSE(ParseHttpUrl("http://h:1")->tls);
  EXPECT_EQ(ParseHttpUrl("ftp://h:1").status().code(), StatusCode::kInvalidArgument);
}

TEST(TlsClient, HttpsCallWorksAndKeepsTheConnection) {
  TlsServer server({});
  auto tls = Trusting();
  Client client(ClientOptions{.tls = tls});
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    for (int i = 0; i < 2; ++i) {
      auto r = Get(client, server.Url(host));
      ASSERT_TRUE(r.ok()) << host << ": " << r.status().ToString();
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, "anonymous");
    }
  }
  EXPECT_EQ(server.handshakes(), 2);  // one per URL host; the second call reused the connection
}

TEST(TlsClient, RefusesEachBadServerCertificateWithItsReason) {
  struct Case {
    std::string leaf, host, reason;
  };
  for (const Case& c : {Case{"expired", "127.0.0.1", "certificate has expired"},
                        Case{"not-yet-valid", "127.0.0.1", "certificate is not yet valid"},
                        Case{"self-signed", "127.0.0.1", "self-signed certificate"},
                        Case{"wrong-host", "localhost", "hostname mismatch"},
                        Case{"wrong-host", "127.0.0.1", "IP address mismatch"},
                        Case{"other-ca-server", "127.0.0.1", "unable to get local issuer certificate"}}) {
    TlsServer server({.leaf = c.leaf});
    Client client(ClientOptions{.tls = Trusting()});
    auto r = Get(client, server.Url(c.host));
    ASSERT_FALSE(r.ok()) << c.leaf << " via " << c.host << " was accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(r.status().message(), "TLS handshake with " + c.host + ":" + server.Url().substr(18) +
                                        " failed: certificate verify failed: " + c.reason);
    EXPECT_EQ(server.handshakes(), 0);
  }
}

TEST(TlsClient, TheSystemTrustStoreDoesNotTrustTheTestCa) {
  TlsServer server({});
  Client client;  // no settings: the system trust store
  auto r = Get(client, server.Url());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("certificate verify failed: unable to get local issuer certificate"),
            std::string::npos)
      << r.status().ToString();
}

TEST(TlsClient, ServerNameOverridesTheUrlHost) {
  TlsServer server({.leaf = "wrong-host"});
  Client client;
  auto r = Get(client, server.Url(), Trusting({.server_name = "other.example"}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
}

TEST(TlsClient, MutualTlsNeedsTheClientCertificate) {
  TlsServer server({.require_client_cert = true});
  Client client;
  auto with = Get(client, server.Url(), Trusting({.cert_file = Pem("client"), .key_file = Key("client")}));
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_EQ(with->body, "tenant-a");
  auto without = Get(client, server.Url(), Trusting());
  ASSERT_FALSE(without.ok()) << "answered without a client certificate";
  EXPECT_EQ(without.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(without.status().message().find("certificate required"), std::string::npos)
      << without.status().ToString();
}

TEST(TlsClient, ASecondConnectionResumesTheSession) {
  TlsServer server({});
  auto tls = Trusting();
  for (int i = 0; i < 3; ++i) {
    Client client(ClientOptions{.tls = tls});  // a new client: a new connection, the same settings
    auto r = Get(client, server.Url());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  EXPECT_EQ(tls->full_handshakes(), 1u);
  EXPECT_EQ(tls->resumed_handshakes(), 2u);
  EXPECT_EQ(server.resumed(), 2);
}

TEST(TlsClient, AHandshakeThatNeverEndsStopsAtTheDeadline) {
  TlsServer server({.silent = true});
  Client client(ClientOptions{.tls = Trusting()});
  auto r = Get(client, server.Url(), nullptr, 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  EXPECT_NE(r.status().message().find("TLS handshake"), std::string::npos) << r.status().ToString();
}

TEST(TlsClient, CancelDuringTheHandshakeEndsTheCall) {
  TlsServer server({.silent = true});
  Client client(ClientOptions{.tls = Trusting()});
  std::promise<StatusOr<ClientResponse>> answer;
  ClientRequest req;
  req.method = "GET";
  auto call = client.Send(server.Url(), req, std::chrono::steady_clock::now() + 60s,
                          [&](StatusOr<ClientResponse> r) { answer.set_value(std::move(r)); });
  // Cancelled once the connection is open (the server holds it, the handshake waits).
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (server.accepted() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ASSERT_EQ(server.accepted(), 1);
  call->Cancel();
  auto r = answer.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cancelled");
}

TEST(TlsClient, SettingsPerBaseUrl) {
  TlsServer plain_ca({}), mutual({.require_client_cert = true});
  ClientOptions o;
  o.tls = Trusting();
  o.tls_by_url[mutual.Url()] = Trusting({.cert_file = Pem("client-b"), .key_file = Key("client-b")});
  Client client(std::move(o));
  auto a = Get(client, plain_ca.Url());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->body, "anonymous");
  auto b = Get(client, mutual.Url());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->body, "tenant-b");
}

TEST(TlsClient, BadSettingsNameTheFile) {
  auto missing = tls::ClientContext::Create({.ca_file = "/nonexistent/ca.pem"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "CA file /nonexistent/ca.pem: cannot be read");
  auto not_pem = tls::ClientContext::Create({.ca_file = Key("ca")});
  ASSERT_FALSE(not_pem.ok());
  EXPECT_NE(not_pem.status().message().find("CA file " + Key("ca")), std::string::npos);
  auto mismatch = tls::ClientContext::Create({.cert_file = Pem("client"), .key_file = Key("client-b")});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("does not match"), std::string::npos)
      << mismatch.status().ToString();
  auto half = tls::ClientContext::Create({.cert_file = Pem("client")});
  EXPECT_EQ(half.status().code(), StatusCode::kInvalidArgument);
}

// The project's own HTTPS server (http::Server with ServerOptions::tls) as the peer: answers with
// what it saw of the connection's TLS.
struct HttpsNode {
  explicit HttpsNode(const std::string& leaf, tls::ClientAuth auth = tls::ClientAuth::kNone) {
    tls::ServerTlsOptions t;
    t.cert_file = Pem(leaf);
    t.key_file = Key(leaf);
    if (auth != tls::ClientAuth::kNone) t.client_ca_file = Pem("ca");
    t.client_auth = auth;
    t.reload_interval = std::chrono::milliseconds(0);
    auto ctx = tls::ServerContext::Load(t);
    EXPECT_TRUE(ctx.ok()) << ctx.status().ToString();
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.tls = ctx.ok() ? *ctx : nullptr;
    auto s = Server::Start(o, [](Request&& r, Responder w) {
      Response resp;
      resp.body = r.tls ? r.tls->version + " " + r.tls->alpn + " " +
                              (r.tls->client_verified ? r.tls->client_common_name : "anonymous")
                        : "plain";
      w(std::move(resp));
    });
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server = std::move(s).value();
    url = "https://127.0.0.1:" + std::to_string(server->port());
  }
  ~HttpsNode() { server->Stop(); }
  std::unique_ptr<Server> server;
  std::string url;
};

TEST(TlsClientAndServer, HttpsCallsReachTheHandlerWithTheirTlsInfo) {
  HttpsNode node("server");
  auto tls = Trusting();
  for (int i = 0; i < 2; ++i) {
    Client client(ClientOptions{.tls = tls});  // a new connection each time: the second resumes
    auto r = Get(client, node.url);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "TLSv1.3 http/1.1 anonymous");
  }
  EXPECT_EQ(tls->full_handshakes(), 1u);
  EXPECT_EQ(tls->resumed_handshakes(), 1u);
}

TEST(TlsClientAndServer, BadServerCertificatesAreRefused) {
  for (const std::string leaf :
       {"expired", "not-yet-valid", "self-signed", "wrong-host", "other-ca-server"}) {
    HttpsNode node(leaf);
    Client client(ClientOptions{.tls = Trusting()});
    auto r = Get(client, node.url);
    ASSERT_FALSE(r.ok()) << leaf << " was accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("certificate verify failed: "), std::string::npos)
        << r.status().ToString();
  }
}

TEST(TlsClientAndServer, MutualTls) {
  HttpsNode node("server", tls::ClientAuth::kRequire);
  Client client;
  auto with = Get(client, node.url, Trusting({.cert_file = Pem("client"), .key_file = Key("client")}));
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_EQ(with->body, "TLSv1.3 http/1.1 tenant-a");
  auto other_ca = Get(client, node.url,
                      Trusting({.cert_file = Pem("other-ca-client"), .key_file = Key("other-ca-client")}));
  EXPECT_FALSE(other_ca.ok()) << "a client certificate of another CA was accepted";
  auto without = Get(client, node.url, Trusting());
  ASSERT_FALSE(without.ok()) << "answered without a client certificate";
  EXPECT_EQ(without.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace continuum::http
