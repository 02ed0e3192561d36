// Wiring used by `continuum serve` and `continuum gateway`: the chain, the admin listener and the
// metrics it exposes there.
#include "filters/filters.h"
#include "filters/internal/util.h"
#include "telemetry/metrics.h"

namespace continuum::filters {

Frontend::~Frontend() {
  if (admin) admin->Stop();
}

StatusOr<std::unique_ptr<Frontend>> StartFrontend(const std::string& config_path, http::Handler inner,
                                                  ChainOptions options,
                                                  const http::ServerOptions& admin_options) {
  auto f = std::make_unique<Frontend>();
  if (!options.metrics) {
    f->own_metrics = std::make_unique<telemetry::Registry>();
    options.metrics = f->own_metrics.get();
  }
  telemetry::Registry* metrics = options.metrics;
  ASSIGN_OR_RETURN(f->chain, FilterChain::FromFile(config_path, options));
  f->handler = f->chain->Wrap(std::move(inner));
  if (http::Handler routes = f->chain->AdminHandler()) {
    http::Handler admin = [routes, metrics](http::Request&& req, http::Responder respond) {
      if (req.method == "GET" && req.path == "/metrics") {
        http::Response r;
        r.content_type = "text/plain; version=0.0.4";
        r.body = metrics->Render();
        return respond(std::move(r));
      }
      routes(std::move(req), std::move(respond));
    };
    auto server = http::Server::Start(admin_options, std::move(admin));
    if (!server.ok()) {
      return server.status().WithContext("admin listener on " + admin_options.address + ":" +
                                         std::to_string(admin_options.port));
    }
    f->admin = std::move(server).value();
  }
  return f;
}

}  // namespace continuum::filters
