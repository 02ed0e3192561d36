// A tiny blocking HTTPS client for the server's TLS tests (Asio SSL): each step runs the
// client's own io_context for at most its timeout, so a test never hangs on a server that does
// not answer. Also: the SHA-256 fingerprint of a PEM certificate file, to compare with what a
// handshake shows.
#pragma once

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/test_client.h"
#include "tls/peer_cert.h"

namespace continuum::http::test_support {

struct TlsClientOptions {
  std::string ca_file;              // trust these CAs; the server's name is verified against `server_name`
  std::string cert_file, key_file;  // present this client certificate when set
  std::string server_name = "localhost";
  int min_version = TLS1_2_VERSION, max_version = TLS1_3_VERSION;
  std::string tls12_ciphers;      // OpenSSL's default when empty
  bool offer_alpn = true;         // offer "http/1.1"
  SSL_SESSION* resume = nullptr;  // offer this session (not owned)
};

// The SHA-256 (lower-case hex) of the first certificate in a PEM file; empty when unreadable.
inline std::string PemFingerprint(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (x == nullptr) return {};
  auto cert = tls::ReadPeerCertificate(x);
  X509_free(x);
  return cert.ok() ? cert->sha256 : std::string();
}

class TlsClient {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  TlsClient(uint16_t port, const TlsClientOptions& o) : ctx_(boost::asio::ssl::context::tls_client) {
    SSL_CTX* c = ctx_.native_handle();
    // Old protocol versions are only offered at security level 0; what the server accepts is the test.
    if (o.min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(c, 0);
    SSL_CTX_set_min_proto_version(c, o.min_version);
    SSL_CTX_set_max_proto_version(c, o.max_version);
    if (!o.tls12_ciphers.empty()) SSL_CTX_set_cipher_list(c, o.tls12_ciphers.c_str());
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    error_code ec;
    if (!o.ca_file.empty()) {
      ctx_.load_verify_file(o.ca_file, ec);
      ctx_.set_verify_mode(boost::asio::ssl::verify_peer);
    }
    if (!o.cert_file.empty()) {
      ctx_.use_certificate_chain_file(o.cert_file, ec);
      ctx_.use_private_key_file(o.key_file, boost::asio::ssl::context::pem, ec);
    }
    if (ec) setup_error_ = ec.message();
    stream_.emplace(ioc_, ctx_);
    SSL* s = stream_->native_handle();
    SSL_set_tlsext_host_name(s, o.server_name.c_str());
    SSL_set1_host(s, o.server_name.c_str());
    if (o.offer_alpn) {
      static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
      SSL_set_alpn_protos(s, kAlpn, sizeof kAlpn);
    }
    if (o.resume != nullptr) SSL_set_session(s, o.resume);
    stream_->next_layer().connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) setup_error_ = "connect: " + ec.message();
  }

  // The handshake; false (with error()) when it fails or does not finish within `timeout`.
  bool Handshake(Ms timeout = 5000ms) {
    if (!setup_error_.empty()) return Fail(setup_error_);
    std::optional<error_code> done;
    stream_->async_handshake(boost::asio::ssl::stream_base::client, [&](error_code ec) { done = ec; });
    if (!Run(done, timeout)) return Fail("handshake timed out");
    if (*done) return Fail("handshake: " + done->message());
    return true;
  }

  bool Send(std::string_view data) {
    std::optional<error_code> done;
    boost::asio::async_write(*stream_, boost::asio::buffer(data.data(), data.size()),
                             [&](error_code ec, size_t) { done = ec; });
    if (!Run(done, 5000ms)) return Fail("write timed out");
    if (*done) return Fail("write: " + done->message());
    return true;
  }

  std::optional<HttpResponse> Read(Ms timeout = 5000ms) {
    const auto deadline = SteadyClock::now() + timeout;
    return ReadResponse(buf_, false, [&] { return Fill(deadline); });
  }

  std::optional<HttpResponse> Exchange(std::string_view request) {
    if (!Send(request)) return std::nullopt;
    return Read();
  }

  // Reads until the server ends the connection (or `timeout`): the error the read ended with
  // (boost::asio::error::eof after a close_notify), or nullopt on timeout or unread data.
  std::optional<error_code> ReadUntilClosed(Ms timeout = 5000ms) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      const int n = Fill(deadline);
      if (n == -2) return std::nullopt;
      if (n <= 0) return last_read_error_;
    }
  }

  // The server certificate's SHA-256, empty when none.
  std::string PeerFingerprint() {
    const X509* peer = SSL_get0_peer_certificate(stream_->native_handle());
    if (peer == nullptr) return {};
    auto cert = tls::ReadPeerCertificate(peer);
    return cert.ok() ? cert->sha256 : std::string();
  }

  SSL* native() { return stream_->native_handle(); }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  // Runs the loop until `done` is set or `timeout` passes; on timeout cancels and drains.
  template <class T>
  bool Run(const std::optional<T>& done, Ms timeout) {
    ioc_.restart();
    const auto deadline = SteadyClock::now() + timeout;
    while (!done && SteadyClock::now() < deadline) {
      ioc_.run_one_until(deadline);
    }
    if (done) return true;
    error_code ignored;
    stream_->next_layer().cancel(ignored);
    ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
    return false;
  }

  // >0: bytes appended; 0: closed (last_read_error_ says how); -2: timeout.
  int Fill(SteadyClock::time_point deadline) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - SteadyClock::now());
    if (left.count() <= 0) return -2;
    char tmp[16384];
    std::optional<error_code> done;
    size_t got = 0;
    stream_->async_read_some(boost::asio::buffer(tmp), [&](error_code ec, size_t n) {
      done = ec;
      got = n;
    });
    if (!Run(done, left)) return -2;
    if (*done) {
      last_read_error_ = *done;
      return 0;
    }
    buf_.append(tmp, got);
    return static_cast<int>(got);
  }

  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_;
  std::optional<boost::asio::ssl::stream<tcp::socket>> stream_;
  std::string buf_, error_, setup_error_;
  error_code last_read_error_;
};

}  // namespace continuum::http::test_support
