#include "cli/serving.h"

#include <pthread.h>

#include <boost/asio/ip/address.hpp>
#include <csignal>
#include <cstdio>
#include <utility>

#include "common/log.h"
#include "telemetry/metrics.h"
#include "tls/metrics.h"
#include "tls/server_context.h"

namespace continuum::cli {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int StopSignals::Wait() {
  for (;;) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0) continue;
    if (sig != SIGHUP) return sig;
    LogInfo("received SIGHUP, reloading the TLS certificates");
    tls::ServerContext::ReloadAll();
  }
}

Listener::~Listener() { Stop(); }

void Listener::Stop() {
  if (server) server->Stop();
}

namespace {

// One warning per listener that serves plain HTTP beyond this host.
void WarnIfPlainBeyondLoopback(const http::ServerOptions& options) {
  if (options.tls) return;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(options.address, ec);
  if (!ec && address.is_loopback()) return;
  LogWarning("serving plain HTTP on " + options.address +
             ": traffic is not encrypted; use --tls-cert/--tls-key");
}

// With TLS, the listeners' handshakes, certificate expiry and reloads on the process's registry (the
// one its GET /metrics serves).
void RegisterTlsMetrics(const http::ServerOptions& options, const Listener& listener,
                        telemetry::Registry* metrics) {
  if (!options.tls) return;
  const filters::Frontend* fe = listener.frontend.get();
  if (metrics == nullptr && fe != nullptr) metrics = fe->own_metrics.get();
  if (metrics == nullptr) return;
  std::vector<tls::TlsListener> listeners{{"public", listener.server->tls_stats(), options.tls}};
  if (fe != nullptr && fe->admin) listeners.push_back({"admin", fe->admin->tls_stats(), options.tls});
  tls::RegisterTlsMetrics(*metrics, std::move(listeners));
}

}  // namespace

StatusOr<std::unique_ptr<Listener>> StartListener(std::string_view command, std::string_view what,
                                                  const http::ServerOptions& options, http::Handler handler,
                                                  const FilterFlags& filters, filters::ChainOptions chain) {
  auto listener = std::make_unique<Listener>();
  telemetry::Registry* const metrics = chain.metrics;
  if (filters.enabled()) {
    const http::ServerOptions admin = filters.AdminOptions(options.tls);
    WarnIfPlainBeyondLoopback(admin);
    ASSIGN_OR_RETURN(listener->frontend, filters::StartFrontend(filters.config_path(), std::move(handler),
                                                                std::move(chain), admin));
    handler = listener->frontend->handler;
  }
  WarnIfPlainBeyondLoopback(options);
  auto server = http::Server::Start(options, std::move(handler));
  if (!server.ok()) {
    return Status(server.status().code(), "cannot listen on " + options.address + ":" +
                                              std::to_string(options.port) + ": " +
                                              server.status().message());
  }
  listener->server = std::move(server).value();
  RegisterTlsMetrics(options, *listener, metrics);
  const std::string name(command);
  LogInfo(std::string(what) + "listening on " + (options.tls ? "https://" : "http://") + options.address +
          ":" + std::to_string(listener->server->port()));
  std::fprintf(stdout, "continuum %s: listening on port %u\n", name.c_str(), listener->server->port());
  const filters::Frontend* fe = listener->frontend.get();
  if (fe && fe->admin) {
    std::fprintf(stdout, "continuum %s: admin listening on port %u\n", name.c_str(), fe->admin->port());
    // Where the token is, never the token itself.
    if (!fe->admin_token_file.empty())
      std::fprintf(stdout, "continuum %s: admin token in %s\n", name.c_str(), fe->admin_token_file.c_str());
  }
  std::fflush(stdout);
  return listener;
}

void WaitThenShutDown(StopSignals& signals, const std::vector<std::function<void()>>& steps) {
  const int sig = signals.Wait();
  LogInfo(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
  for (const auto& step : steps) step();
  LogInfo("stopped");
}

}  // namespace continuum::cli
