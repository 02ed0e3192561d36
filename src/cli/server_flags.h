// The flags every HTTP-serving command shares (`serve`, `gateway`): the listener's (where it
// listens, its I/O threads and every limit a client meets before a handler runs: body and header
// sizes, the header / body / idle / write timeouts, connections) and the filter chain's in front
// of its handler (`--filters`, the admin listener). One definition, so the commands cannot drift
// apart in names, defaults or range checks.
#pragma once

#include <cstdint>
#include <string>

#include "cli/flags.h"
#include "common/status.h"
#include "http/server.h"

namespace continuum::cli {

class ServerFlags {
 public:
  ServerFlags(std::string default_address, int64_t default_port);
  void Register(Flags& f);
  // Range-checked options, or kInvalidArgument naming the flag.
  StatusOr<http::ServerOptions> Options() const;

 private:
  std::string address_;
  int64_t port_;
  int64_t io_threads_ = 1;
  int64_t max_body_bytes_, max_header_bytes_, max_connections_;
  int64_t header_timeout_ms_, body_timeout_ms_, idle_timeout_ms_, write_timeout_ms_;
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
  http::ServerOptions AdminOptions() const;

 private:
  std::string config_path_, admin_address_ = "127.0.0.1", admin_routes_;
  int64_t admin_port_;
};

}  // namespace continuum::cli
