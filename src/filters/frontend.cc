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
  // The listener's own page, behind the same admin checks as the tenant and key routes: it names
  // tenants and their models.
  http::Handler metrics_page = [metrics](http::Request&& req, http::Responder respond) {
    if (req.path != "/metrics")
      return respond(ErrorFor(NotFound("no admin route for " + req.method + " " + req.path)));
    if (req.method != "GET") {
      http::Response r = JsonError(405, "use GET for /metrics");
      r.headers.emplace_back("Allow", "GET");
      return respond(std::move(r));
    }
    http::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics->Render();
    respond(std::move(r));
  };
  if (http::Handler admin = f->chain->AdminHandler(std::move(metrics_page))) {
    f->admin_token_file = f->chain->admin_token_file();
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
