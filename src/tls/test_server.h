// For tests only: the test PKI written once per process, and a TLS HTTP/1.1 server (Asio over
// OpenSSL) on 127.0.0.1 that answers every request 200 with the client certificate's common name
// (or "anonymous"), keep-alive, counting handshakes and the resumed ones: a real TLS peer for the
// client's tests (verification, mutual TLS, resumption, a handshake that never ends).
#pragma once

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tls/test_pki.h"

namespace continuum::tls::testing {

// The folder the test PKI was written to (see WriteTestPki), removed when the process exits, and
// its files.
inline std::string Pki() {
  struct Folder {
    Folder()
        : path((std::filesystem::temp_directory_path() / ("continuum_test_pki_" + std::to_string(getpid())))
                   .string()) {
      Status st = WriteTestPki(path);
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    ~Folder() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
    std::string path;
  };
  static const Folder folder;
  return folder.path;
}
inline std::string Pem(const std::string& name) { return Pki() + "/" + name + ".pem"; }
inline std::string Key(const std::string& name) { return Pki() + "/" + name + ".key"; }

struct ServerSettings {
  std::string leaf = "server";  // NAME.pem + NAME.key from the test PKI
  bool require_client_cert = false;
  bool silent = false;  // accepts TCP, never answers the handshake
};

// A TLS HTTP/1.1 server on 127.0.0.1: answers every request 200 with the client certificate's
// common name (or "anonymous"), keep-alive. Counts handshakes and the resumed ones.
class TlsServer {
  using tcp = boost::asio::ip::tcp;

 public:
  explicit TlsServer(ServerSettings s)
      : settings_(std::move(s)), ctx_(boost::asio::ssl::context::tls_server) {
    ctx_.use_certificate_chain_file(Pem(settings_.leaf));
    ctx_.use_private_key_file(Key(settings_.leaf), boost::asio::ssl::context::pem);
    static const unsigned char kId[] = "tls_client_test";
    SSL_CTX_set_session_id_context(ctx_.native_handle(), kId, sizeof(kId) - 1);
    if (settings_.require_client_cert) {
      ctx_.load_verify_file(Pem("ca"));
      ctx_.set_verify_mode(boost::asio::ssl::verify_peer | boost::asio::ssl::verify_fail_if_no_peer_cert);
    }
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsServer() {
    io_.stop();
    thread_.join();
  }
  std::string Url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(port_);
  }
  int handshakes() const { return handshakes_; }
  int accepted() const { return accepted_; }
  int resumed() const { return resumed_; }

 private:
  struct Session {
    explicit Session(tcp::socket s, boost::asio::ssl::context& ctx) : stream(std::move(s), ctx) {}
    boost::beast::ssl_stream<tcp::socket> stream;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::response<boost::beast::http::string_body> res;
  };

  void Accept() {
    acceptor_.async_accept([this](boost::beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++accepted_;
      auto s = std::make_shared<Session>(std::move(socket), ctx_);
      if (settings_.silent) {
        silent_.push_back(s);
      } else {
        s->stream.async_handshake(boost::asio::ssl::stream_base::server,
                                  [this, s](boost::beast::error_code ec) {
                                    if (ec) return;
                                    ++handshakes_;
                                    if (SSL_session_reused(s->stream.native_handle())) ++resumed_;
                                    Read(s);
                                  });
      }
      Accept();
    });
  }

  void Read(const std::shared_ptr<Session>& s) {
    s->req = {};
    boost::beast::http::async_read(
        s->stream, s->buffer, s->req, [this, s](boost::beast::error_code ec, size_t) {
          if (ec) return;
          std::string who = "anonymous";
          if (X509* peer = SSL_get0_peer_certificate(s->stream.native_handle())) {
            char cn[256] = {0};
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
            who = cn;
          }
          s->res = {boost::beast::http::status::ok, 11};
          s->res.body() = who;
          s->res.keep_alive(true);
          s->res.prepare_payload();
          boost::beast::http::async_write(s->stream, s->res, [this, s](boost::beast::error_code ec, size_t) {
            if (!ec) Read(s);
          });
        });
  }

  ServerSettings settings_;
  boost::asio::ssl::context ctx_;
  boost::asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<int> accepted_{0}, handshakes_{0}, resumed_{0};
  std::vector<std::shared_ptr<Session>> silent_;  // loop thread only
};

}  // namespace continuum::tls::testing
