// The listener flags every HTTP-serving command shares (`serve`, `gateway`): where it listens, its
// I/O threads and every limit a client meets before a handler runs (body and header sizes, the
// header / body / idle / write timeouts, connections). One definition, so the commands cannot
// drift apart in names, defaults or range checks.
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

}  // namespace continuum::cli
