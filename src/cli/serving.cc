#include "cli/serving.h"

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <utility>

#include "common/log.h"

namespace continuum::cli {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int StopSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

Listener::~Listener() { Stop(); }

void Listener::Stop() {
  if (server) server->Stop();
}

StatusOr<std::unique_ptr<Listener>> StartListener(std::string_view command, std::string_view what,
                                                  const http::ServerOptions& options, http::Handler handler,
                                                  const FilterFlags& filters, filters::ChainOptions chain) {
  auto listener = std::make_unique<Listener>();
  if (filters.enabled()) {
    ASSIGN_OR_RETURN(listener->frontend, filters::StartFrontend(filters.config_path(), std::move(handler),
                                                                std::move(chain), filters.AdminOptions()));
    handler = listener->frontend->handler;
  }
  auto server = http::Server::Start(options, std::move(handler));
  if (!server.ok()) {
    return Status(server.status().code(), "cannot listen on " + options.address + ":" +
                                              std::to_string(options.port) + ": " +
                                              server.status().message());
  }
  listener->server = std::move(server).value();
  const std::string name(command);
  LogInfo(std::string(what) + "listening on http://" + options.address + ":" +
          std::to_string(listener->server->port()));
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
