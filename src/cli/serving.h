// What every long-running command (`serve`, `gateway`, `linkemu`) does around its own work: stop
// signals blocked before any thread starts and waited for at the end, and for the HTTP-serving
// ones the listener (behind the filter chain when --filters names one, with its admin listener)
// and the shutdown sequence. One place, so the commands start and stop alike.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cli/server_flags.h"
#include "common/status.h"
#include "filters/filters.h"
#include "http/server.h"

namespace continuum::cli {

// Blocks SIGINT, SIGTERM and SIGHUP in this thread and in every thread started after it (so
// construct it before any), and ignores SIGPIPE (a peer that hung up is an error on its socket, not
// the end of the process).
class StopSignals {
 public:
  StopSignals();
  // Waits for SIGINT or SIGTERM; returns which. A SIGHUP meanwhile reloads every TLS certificate
  // of the process (tls::ServerContext::ReloadAll) and the wait goes on.
  int Wait();

 private:
  sigset_t set_;
};

// The public listener and the filter chain in front of it; stops the server before the chain goes.
struct Listener {
  std::unique_ptr<filters::Frontend> frontend;  // null without --filters; outlives the server
  std::unique_ptr<http::Server> server;
  ~Listener();
  void Stop();  // stops the public listener (the admin listener goes with the frontend)
};

// Starts `handler` on `options`, behind the filter chain when `filters` names one (`chain`: its
// options). Prints "continuum COMMAND: listening on port N" (and the admin port and where its
// token is, never the token) on stdout for scripts, and logs `what` + "listening on
// http(s)://ADDRESS:PORT". The admin listener serves TLS when `options.tls` is set. A listener on
// an address other than loopback without TLS logs a warning: its traffic is not encrypted.
StatusOr<std::unique_ptr<Listener>> StartListener(std::string_view command, std::string_view what,
                                                  const http::ServerOptions& options, http::Handler handler,
                                                  const FilterFlags& filters, filters::ChainOptions chain);

// Waits for a stop signal, logs it, runs `steps` in order (refuse new work, drain, close), then
// logs "stopped".
void WaitThenShutDown(StopSignals& signals, const std::vector<std::function<void()>>& steps);

}  // namespace continuum::cli
