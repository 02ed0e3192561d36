// The flags every HTTP-serving command shares (`serve`, `gateway`): the listener's (where it
// listens, its I/O threads and every limit a client meets before a handler runs: body and header
// sizes, the header / body / idle / write timeouts, connections) and the filter chain's in front
// of its handler (`--filters`, the admin listener). One definition, so the commands cannot drift
// apart in names, defaults or range checks. The --tls-* flags apply to every listener of the
// process: the public one, the admin listener and the gRPC endpoint.
#pragma once

#include <cstdint>
#include <string>

#include "cli/flags.h"
#include "common/status.h"
#include "http/server.h"
#include "tls/server_context.h"

namespace continuum::cli {

class ServerFlags {
 public:
  ServerFlags(std::string default_address, int64_t default_port);
  void Register(Flags& f);
  // Range-checked options, or kInvalidArgument naming the flag. With --tls-cert the certificate
  // files are loaded here (`tls` set, its file watcher running), so a bad file is a usage error.
  StatusOr<http::ServerOptions> Options() const;
  // The --tls-* flags as given (not checked: Options() checks them); enabled() without --tls-cert.
  tls::ServerTlsOptions TlsOptions() const;

 private:
  Status CheckTls() const;

  std::string address_;
  int64_t port_;
  int64_t io_threads_ = 1;
  int64_t max_body_bytes_, max_header_bytes_, max_connections_, max_accepts_per_wakeup_;
  int64_t header_timeout_ms_, body_timeout_ms_, idle_timeout_ms_, write_timeout_ms_;
  std::string tls_cert_, tls_key_, tls_client_ca_, tls_client_auth_;
  int64_t tls_handshake_timeout_ms_, tls_reload_interval_ms_;
};

// --filters FILE, --admin-port, --admin-address: the AI-gateway filter chain (src/filters) in
// front of the command's handler, and where its admin API listens.
class FilterFlags {
 public:
  // `admin_routes` names what the admin listener serves, for the help text.
  FilterFlags(int64_t default_admin_port, std::string admin_routes);
  void Register(Flags& f);
  // Range-checked, or kInvalidArgument naming the flag.
  Status Check() const;

  bool enabled() const { return !config_path_.empty(); }
  const std::string& config_path() const { return config_path_; }
  // The admin listener's options, serving TLS with `tls` (the public listener's) when not null.
  http::ServerOptions AdminOptions(std::shared_ptr<tls::ServerContext> tls = nullptr) const;

 private:
  std::string config_path_, admin_address_ = "127.0.0.1", admin_routes_;
  int64_t admin_port_;
};

}  // namespace continuum::cli
