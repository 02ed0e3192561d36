// The client side of TLS: what http::Client opens https:// connections with. One ClientContext
// per set of settings (trust, client certificate, expected server name), shared by every
// connection made with them: TLS 1.2 at least, the peer's certificate always verified (the
// system trust store or the given CA bundle) and its name checked against the URL's host (or
// `server_name`), SNI sent for host names, and the last session of each host:port kept and
// offered on the next connection there, so a reconnect resumes instead of paying a full
// handshake (TLS 1.3 tickets arrive after the handshake: they are caught by a callback).
// Thread-safe once created.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace continuum::tls {

struct ClientTlsOptions {
  std::string ca_file{};      // PEM CA bundle the server must chain to; empty: the system trust store
  std::string cert_file{};    // PEM client certificate (leaf first) for mutual TLS; empty: none
  std::string key_file{};     // its private key (PEM); required with cert_file
  std::string server_name{};  // name checked and sent as SNI; empty: the URL's host

  bool operator==(const ClientTlsOptions&) const = default;
};

class ClientContext {
 public:
  // InvalidArgument naming the file when a file cannot be read or the key does not match.
  static StatusOr<std::shared_ptr<const ClientContext>> Create(const ClientTlsOptions& options);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  const ClientTlsOptions& options() const { return options_; }
  // What Asio's ssl::stream is built over. Connections only read it.
  boost::asio::ssl::context& context() const { return ctx_; }

  // Readies a new connection's `ssl` to `host`:`port` before its handshake: SNI (for a name,
  // not an IP address), the name or address the certificate must carry, and the session kept
  // for host:port, if any, offered for resumption.
  Status Prepare(SSL* ssl, const std::string& host, const std::string& port) const;

  // Why a handshake failed, for an error message: the certificate check's reason when the
  // peer's certificate was refused ("certificate verify failed: certificate has expired"),
  // else the TLS error.
  static std::string HandshakeError(SSL* ssl, const boost::system::error_code& ec);

  // Handshakes that resumed a kept session, and full ones (counted by CountHandshake).
  void CountHandshake(SSL* ssl) const;
  uint64_t resumed_handshakes() const { return resumed_.load(std::memory_order_relaxed); }
  uint64_t full_handshakes() const { return full_.load(std::memory_order_relaxed); }

 private:
  explicit ClientContext(ClientTlsOptions options);
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);

  ClientTlsOptions options_;
  mutable boost::asio::ssl::context ctx_;
  mutable std::mutex mu_;
  mutable std::map<std::string, SSL_SESSION*> sessions_;  // "host:port" -> owned reference
  mutable std::atomic<uint64_t> resumed_{0}, full_{0};
};

}  // namespace continuum::tls
