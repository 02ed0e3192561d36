// The gRPC endpoint over TLS: a real server on a loopback port, gRPC client channels with and
// without client certificates, a raw OpenSSL client for the protocol versions and ciphers, and a
// certificate replaced on disk while a connection stays open.
// clang-format off
// Ours first: common/thread_annotations.h must come before Abseil's, which gRPC's headers include.
#include "grpc/grpc_server.h"
// clang-format on

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/test_temp_dir.h"
#include "inference_service.grpc.pb.h"
#include "tls/test_pki.h"

namespace continuum::grpc_api {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Write(const fs::path& p, const std::string& data) {
  // Written beside and renamed over, so a reader never sees half a file.
  const fs::path tmp = p.string() + ".new";
  std::ofstream(tmp, std::ios::binary) << data;
  fs::rename(tmp, p);
}

class GrpcTls : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tls::testing::WriteTestPki(pki_.path().string()).ok());
    fs::create_directories(repo_.path());
    InferenceNodeOptions no;
    no.engine.intra_op_threads = 1;
    no.repository.root = repo_.path();
    no.task_threads = 1;
    no.process_metrics = false;
    auto node = InferenceNode::Create(std::move(no));
    ASSERT_TRUE(node.ok()) << node.status().message();
    node_ = std::move(*node);
    ASSERT_TRUE(node_->Start().ok());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  std::string Pki(const std::string& name) const { return (pki_.path() / name).string(); }

  tls::ServerTlsOptions Tls(tls::ClientAuth auth = tls::ClientAuth::kNone) const {
    tls::ServerTlsOptions t;
    t.cert_file = Pki("server.pem");
    t.key_file = Pki("server.key");
    if (auth != tls::ClientAuth::kNone) t.client_ca_file = Pki("ca.pem");
    t.client_auth = auth;
    return t;
  }

  Status Start(const tls::ServerTlsOptions& tls) {
    GrpcServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.tls = tls;
    auto s = StartGrpcServer(o, *node_);
    if (!s.ok()) return s.status();
    server_ = std::move(*s);
    return Status::Ok();
  }

  // A channel of its own (a private subchannel pool: every channel makes its own connection and
  // handshake, none is shared with an earlier channel).
  std::shared_ptr<::grpc::Channel> Channel(const std::shared_ptr<::grpc::ChannelCredentials>& creds) const {
    ::grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return ::grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()), creds, args);
  }

  std::shared_ptr<::grpc::ChannelCredentials> Ssl(const std::string& ca,
                                                  const std::string& client = "") const {
    ::grpc::SslCredentialsOptions o;
    o.pem_root_certs = Slurp(Pki(ca));
    if (!client.empty()) {
      o.pem_private_key = Slurp(Pki(client + ".key"));
      o.pem_cert_chain = Slurp(Pki(client + ".pem"));
    }
    return ::grpc::SslCredentials(o);
  }

  // ServerLive over `channel`: the status, and `live` when it answered.
  static ::grpc::Status Live(const std::shared_ptr<::grpc::Channel>& channel) {
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    ::grpc::ClientContext ctx;
    inference::ServerLiveRequest req;
    inference::ServerLiveResponse resp;
    ::grpc::Status st = stub->ServerLive(&ctx, req, &resp);
    if (st.ok() && !resp.live()) return {::grpc::StatusCode::INTERNAL, "answered live: false"};
    return st;
  }
  ::grpc::Status Live(const std::shared_ptr<::grpc::ChannelCredentials>& creds) const {
    return Live(Channel(creds));
  }

  testing::TempDir pki_{"continuum-grpc-pki"};
  testing::TempDir repo_{"continuum-grpc-repo"};
  std::unique_ptr<InferenceNode> node_;
  std::unique_ptr<GrpcServer> server_;
};

TEST_F(GrpcTls, ServesTlsWithTheConfiguredCertificateOnly) {
  ASSERT_TRUE(Start(Tls()).ok());
  ::grpc::Status ok = Live(Ssl("ca.pem"));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(Live(::grpc::InsecureChannelCredentials()).error_code(), ::grpc::StatusCode::UNAVAILABLE);
  // A client that trusts another CA refuses the server's certificate.
  EXPECT_EQ(Live(Ssl("other-ca.pem")).error_code(), ::grpc::StatusCode::UNAVAILABLE);
  // No client certificate is asked for: one sent anyway is not needed and does no harm.
  EXPECT_TRUE(Live(Ssl("ca.pem", "client")).ok());
}

TEST_F(GrpcTls, RequireRefusesAClientWithoutAVerifiedCertificate) {
  ASSERT_TRUE(Start(Tls(tls::ClientAuth::kRequire)).ok());
  EXPECT_EQ(Live(Ssl("ca.pem")).error_code(), ::grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Live(Ssl("ca.pem", "other-ca-client")).error_code(), ::grpc::StatusCode::UNAVAILABLE);
  ::grpc::Status a = Live(Ssl("ca.pem", "client"));
  EXPECT_TRUE(a.ok()) << a.error_message();
  EXPECT_TRUE(Live(Ssl("ca.pem", "client-b")).ok());
}

TEST_F(GrpcTls, OptionalAcceptsNoCertificateAndVerifiesOneGiven) {
  tls::ServerTlsOptions t = Tls(tls::ClientAuth::kOptional);
  t.reload_interval = std::chrono::milliseconds(0);  // the files read once
  ASSERT_TRUE(Start(t).ok());
  ::grpc::Status none = Live(Ssl("ca.pem"));
  EXPECT_TRUE(none.ok()) << none.error_message();
  EXPECT_TRUE(Live(Ssl("ca.pem", "client")).ok());
  EXPECT_EQ(Live(Ssl("ca.pem", "other-ca-client")).error_code(), ::grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcTls, BadFilesAndOptionsAreRefusedAtStart) {
  auto refused = [&](const tls::ServerTlsOptions& t, const std::string& says) {
    Status st = Start(t);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << says;
    EXPECT_NE(st.message().find(says), std::string::npos) << st.message();
  };
  tls::ServerTlsOptions t = Tls();
  t.key_file = Pki("server2.key");
  refused(t, "does not match the certificate");
  t = Tls();
  t.cert_file = Pki("missing.pem");
  refused(t, "missing.pem: cannot read");
  t = Tls();
  t.key_file = "";
  refused(t, "--tls-cert needs --tls-key");
  t = Tls();
  t.cert_file = Pki("server.key");
  refused(t, "--tls-cert");
  t = Tls(tls::ClientAuth::kRequire);
  t.client_ca_file = "";
  refused(t, "needs --tls-client-ca");
  t = Tls(tls::ClientAuth::kRequire);
  t.client_ca_file = Pki("ca.key");
  refused(t, "--tls-client-ca");
  t = Tls();
  t.handshake_timeout = std::chrono::milliseconds(0);
  refused(t, "--tls-handshake-timeout-ms");
  EXPECT_EQ(server_, nullptr);
}

// Handshake with a raw OpenSSL client limited to `max_version` and `ciphers` (TLS 1.2 names).
bool Handshakes(int port, int max_version, const char* ciphers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_cipher_list(ctx, ciphers);
  SSL_CTX_set_security_level(ctx, 0);  // lets this client offer TLS 1.0 and 1.1 at all
  static const unsigned char kH2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kH2, sizeof kH2);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ok = SSL_connect(ssl) == 1;
    SSL_free(ssl);
  }
  close(fd);
  SSL_CTX_free(ctx);
  return ok;
}

TEST_F(GrpcTls, OnlyTls12AndUpWithEcdheAeadSuites) {
  ASSERT_TRUE(Start(Tls()).ok());
  const int port = server_->port();
  EXPECT_TRUE(Handshakes(port, TLS1_3_VERSION, "DEFAULT"));
  EXPECT_TRUE(Handshakes(port, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"));
  EXPECT_FALSE(Handshakes(port, TLS1_1_VERSION, "DEFAULT"));
  EXPECT_FALSE(Handshakes(port, TLS1_VERSION, "DEFAULT"));
  EXPECT_FALSE(Handshakes(port, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256"));  // CBC
  EXPECT_FALSE(Handshakes(port, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA"));     // CBC, SHA-1
}

TEST_F(GrpcTls, ACertificateReplacedOnDiskServesNewHandshakesAndKeepsOpenConnections) {
  // Starts with a certificate from the other CA; a client trusting only `ca` refuses it.
  testing::TempDir live("continuum-grpc-live");
  const fs::path cert = live.path() / "cert.pem", key = live.path() / "cert.key";
  Write(cert, Slurp(Pki("other-ca-server.pem")));
  Write(key, Slurp(Pki("other-ca-server.key")));
  tls::ServerTlsOptions t = Tls();
  t.cert_file = cert.string();
  t.key_file = key.string();
  t.reload_interval = std::chrono::milliseconds(1000);
  ASSERT_TRUE(Start(t).ok());
  ::grpc::SslCredentialsOptions both;
  both.pem_root_certs = Slurp(Pki("ca.pem")) + Slurp(Pki("other-ca.pem"));
  auto open = Channel(::grpc::SslCredentials(both));
  ASSERT_TRUE(Live(open).ok());
  ASSERT_EQ(Live(Ssl("ca.pem")).error_code(), ::grpc::StatusCode::UNAVAILABLE);

  // Each file is renamed into place whole, as a rotation should do it.
  Write(key, Slurp(Pki("server.key")));
  Write(cert, Slurp(Pki("server.pem")));
  // Polls new connections until one is served with the new certificate (the watcher checks the
  // files every second); gives up after 3000 polls (a minute or more) rather than hang.
  ::grpc::Status fresh = Live(Ssl("ca.pem"));
  for (int poll = 0; !fresh.ok() && poll < 3000; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // between polls, not a bound
    fresh = Live(Ssl("ca.pem"));
  }
  ASSERT_TRUE(fresh.ok()) << "the new certificate was never served: " << fresh.error_message();
  // The connection opened before the change was never dropped.
  EXPECT_EQ(open->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(Live(open).ok());
}

}  // namespace
}  // namespace continuum::grpc_api
