// Headers a node adds to every inference answer so that whoever routes to it (the gateway,
// libcontinuum, the AI-gateway filters) learns its speed and load from real traffic, without
// polling: the time the request spent on the node and the node's queue at answer time.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace continuum {

// Milliseconds from the request's arrival at the engine to its result (queue wait + compute,
// task pre/post-processing included), as a decimal number. Lower-case, as the HTTP layers store it.
inline constexpr std::string_view kComputeMsHeader = "x-continuum-compute-ms";
// Requests of the same model version still waiting on the node when this one was answered.
inline constexpr std::string_view kQueueDepthHeader = "x-continuum-queue-depth";

// Appends both headers to a response's header list.
inline void AddNodeReport(std::vector<std::pair<std::string, std::string>>* headers,
                          std::chrono::steady_clock::duration on_node, size_t queue_depth) {
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", std::chrono::duration<double, std::milli>(on_node).count());
  headers->emplace_back(std::string(kComputeMsHeader), ms);
  headers->emplace_back(std::string(kQueueDepthHeader), std::to_string(queue_depth));
}

}  // namespace continuum
