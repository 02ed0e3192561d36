#include "tls/metrics.h"

#include <algorithm>
#include <utility>

#include "telemetry/metrics.h"

namespace continuum::tls {

void RegisterTlsMetrics(telemetry::Registry& registry, std::vector<TlsListener> listeners) {
  using Samples = std::vector<telemetry::Registry::Sample>;
  auto all = std::make_shared<const std::vector<TlsListener>>(std::move(listeners));
  // A context shared by several listeners (the public and the admin one) reloads once.
  std::vector<std::shared_ptr<const ServerContext>> distinct;
  for (const TlsListener& l : *all) {
    if (std::find(distinct.begin(), distinct.end(), l.context) == distinct.end())
      distinct.push_back(l.context);
  }
  auto contexts =
      std::make_shared<const std::vector<std::shared_ptr<const ServerContext>>>(std::move(distinct));

  registry.AddCallbackFamily(
      "continuum_tls_handshakes_total",
      "TLS handshakes on the listener by outcome: ok, failed (refused protocol or cipher, a bad or missing "
      "client certificate, not TLS), timeout (not done within the handshake timeout)",
      /*counter=*/true, {"listener", "result"}, [all] {
        Samples out;
        for (const TlsListener& l : *all) {
          out.push_back({{l.name, "ok"}, static_cast<double>(HandshakeStats::Get(l.stats->ok))});
          out.push_back({{l.name, "failed"}, static_cast<double>(HandshakeStats::Get(l.stats->failed))});
          out.push_back({{l.name, "timeout"}, static_cast<double>(HandshakeStats::Get(l.stats->timeout))});
        }
        return out;
      });
  registry.AddCallbackFamily(
      "continuum_tls_resumed_handshakes_total",
      "TLS handshakes on the listener that resumed a session (also counted as ok)",
      /*counter=*/true, {"listener"}, [all] {
        Samples out;
        for (const TlsListener& l : *all)
          out.push_back({{l.name}, static_cast<double>(HandshakeStats::Get(l.stats->resumed))});
        return out;
      });
  registry.AddCallbackFamily(
      "continuum_tls_certificate_expiry_timestamp_seconds",
      "notAfter of the certificate the listener serves now (unix seconds)",
      /*counter=*/false, {"listener"}, [all] {
        Samples out;
        for (const TlsListener& l : *all)
          out.push_back({{l.name}, static_cast<double>(l.context->certificate_not_after())});
        return out;
      });
  registry.AddCallbackFamily("continuum_tls_reloads_total",
                             "Reloads of the TLS certificate files (on change, on SIGHUP) by outcome; a "
                             "failed one keeps the previous "
                             "certificate",
                             /*counter=*/true, {"result"}, [contexts] {
                               double ok = 0, failed = 0;
                               for (const auto& c : *contexts) {
                                 ok += static_cast<double>(c->reloads_ok());
                                 failed += static_cast<double>(c->reloads_failed());
                               }
                               return Samples{{{"ok"}, ok}, {{"failed"}, failed}};
                             });
}

}  // namespace continuum::tls
