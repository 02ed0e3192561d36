// Sends one request along a plan: the choice, then each fallback in order while the deadline
// allows, plus an optional hedge copy after a delay. A failure is a transport error, a timeout,
// an answer that is not valid HTTP, or a 5xx; a 4xx is the client's error and ends the dispatch
// unchanged (no retry). The first good answer wins and the other in-flight copy is cancelled.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "gateway/upstream.h"

namespace continuum::gateway {

struct Target {
  std::string node;
  std::string url;
};

struct Plan {
  std::vector<Target> chain;  // chain[0]: the choice; then the fallbacks in order
  std::optional<Target> hedge;
  std::chrono::milliseconds hedge_delay{0};
  std::chrono::steady_clock::time_point deadline;
};

struct Attempt {
  std::string node;
  int step = 0;   // index in the chain; -1 for the hedge
  Status status;  // ok when the node answered (any non-5xx status)
  int http_status = 0;
};

struct Outcome {
  bool served = false;  // a node answered (2xx..4xx)
  std::string node;     // the node that answered (or the last one tried)
  int step = 0;         // -1: the hedge
  UpstreamResponse response;
  Status error;  // when !served: Unavailable or DeadlineExceeded
  std::vector<Attempt> attempts;
};

// Hooks run on the client's I/O thread. Every on_send is followed by exactly one on_failure,
// on_success or on_cancel for that node.
struct DispatchHooks {
  std::function<void(const std::string& node)> on_send;
  std::function<void(const std::string& node)> on_failure;
  // An answer (2xx..4xx): its status, bytes sent + received, wall time of the exchange.
  std::function<void(const std::string& node, int status, uint64_t bytes, double ms)> on_success;
  // The losing copy of a hedge race, abandoned.
  std::function<void(const std::string& node)> on_cancel;
};

// `done` runs exactly once, on the client's I/O thread.
void Dispatch(UpstreamClient* client, Plan plan, UpstreamRequest request, DispatchHooks hooks,
              std::function<void(Outcome)> done);

}  // namespace continuum::gateway
