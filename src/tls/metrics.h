// The TLS metrics of a process's listeners, read at scrape time from what the listeners and their
// contexts keep in atomics (HandshakeStats, ServerContext's reload counts and expiry):
//   continuum_tls_handshakes_total{listener,result}          ok | failed | timeout
//   continuum_tls_resumed_handshakes_total{listener}          handshakes that resumed a session
//   continuum_tls_certificate_expiry_timestamp_seconds{listener}  notAfter of the served certificate
//   continuum_tls_reloads_total{result}                       ok | failed (each context counted once)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tls/handshake_stats.h"
#include "tls/server_context.h"

namespace continuum::telemetry {
class Registry;
}

namespace continuum::tls {

struct TlsListener {
  std::string name;  // the `listener` label: "public", "admin", ...
  std::shared_ptr<const HandshakeStats> stats;
  std::shared_ptr<const ServerContext> context;
};

// Registers the families above on `registry` (once per registry: registering them again throws
// std::invalid_argument). The listeners' stats and contexts are kept alive by the registry.
void RegisterTlsMetrics(telemetry::Registry& registry, std::vector<TlsListener> listeners);

}  // namespace continuum::tls
