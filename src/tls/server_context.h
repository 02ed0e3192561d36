// The server side of TLS, shared by every listener of a process (the public HTTP listener, the
// filters' admin listener, the gRPC endpoint): the options the --tls-* flags give, and the OpenSSL
// context new connections take, reloaded from its files when they change or on SIGHUP.
//
// Policy: TLS 1.2 and 1.3 only; TLS 1.2 suites ECDHE with AEAD only; server cipher preference;
// no compression, no renegotiation; session tickets and a server session cache (clients resume);
// ALPN "http/1.1"; client certificates verified against `client_ca_file` per `client_auth`.
//
// Thread-safety: every member is safe from any thread. A reload swaps the context for new
// connections; a connection keeps the context it started with, so a reload never drops one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace continuum::tls {

enum class ClientAuth {
  kNone,      // no client certificate asked for
  kOptional,  // asked for; one presented must verify, none is accepted
  kRequire,   // one that verifies must be presented, else the handshake fails
};

// "none" | "optional" | "require"; kInvalidArgument otherwise.
StatusOr<ClientAuth> ParseClientAuth(std::string_view name);
std::string_view ClientAuthName(ClientAuth auth);

struct ServerTlsOptions {
  std::string cert_file;       // PEM: the leaf first, then its intermediates
  std::string key_file;        // PEM private key of the leaf (not encrypted)
  std::string client_ca_file;  // PEM bundle of the CAs client certificates must chain to
  ClientAuth client_auth = ClientAuth::kNone;
  std::chrono::milliseconds handshake_timeout{10000};  // a handshake not done by then is closed
  std::chrono::milliseconds reload_interval{2000};     // how often the files are checked; 0: only on Reload
  int max_client_chain_depth = 4;  // intermediates allowed between a client certificate and its CA

  bool enabled() const { return !cert_file.empty(); }
  // The combination is coherent (a key with the certificate, a CA for optional/require, ...);
  // kInvalidArgument naming the flag otherwise.
  Status Check() const;
};

class ServerContext {
 public:
  // Reads the files and builds the context; starts the file watcher when reload_interval > 0.
  // Errors (kInvalidArgument) name the file and what is wrong: missing or unreadable, not PEM, a
  // key that does not match the certificate, an unusable CA bundle. An expired (or not yet valid)
  // certificate loads, with a warning in the log.
  static StatusOr<std::shared_ptr<ServerContext>> Load(const ServerTlsOptions& options);

  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // The context a new connection takes (never null).
  std::shared_ptr<boost::asio::ssl::context> Current() const;
  // Re-reads the files. On failure the current context stays and the error is returned.
  Status Reload();
  // Reloads when a file's content changed since the last check (or the last reload).
  // Returns true when it reloaded (successfully).
  bool ReloadIfChanged();
  // How many reloads succeeded since Load.
  uint64_t generation() const;
  // Reloads since Load by outcome (Reload, the file watcher, SIGHUP): what continuum_tls_reloads_total
  // shows. Failed ones kept the previous context.
  uint64_t reloads_ok() const { return reloads_ok_.load(std::memory_order_relaxed); }
  uint64_t reloads_failed() const { return reloads_failed_.load(std::memory_order_relaxed); }
  // notAfter of the certificate new connections are served (the current context's), in unix seconds.
  int64_t certificate_not_after() const { return not_after_.load(std::memory_order_relaxed); }
  const ServerTlsOptions& options() const { return options_; }

  // Reloads every ServerContext alive in the process (what SIGHUP does); logs each outcome.
  // Returns how many failed.
  static int ReloadAll();

 private:
  struct FileStamps;
  explicit ServerContext(const ServerTlsOptions& options);
  void Watch();

  const ServerTlsOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;  // guarded by mu_
  std::unique_ptr<FileStamps> stamps_;                  // guarded by mu_
  uint64_t generation_ = 0;                             // guarded by mu_
  std::mutex reload_mu_;                                // one reload at a time
  std::atomic<uint64_t> reloads_ok_{0};
  std::atomic<uint64_t> reloads_failed_{0};
  std::atomic<int64_t> not_after_{0};  // of current_'s certificate
  bool stopping_ = false;              // guarded by mu_
  std::condition_variable wake_;
  std::thread watcher_;
};

}  // namespace continuum::tls
