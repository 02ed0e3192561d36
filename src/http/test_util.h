// Shared by the tests of handlers (the v2 and task APIs, the filter chain): a request as the
// server hands one over, and a call through a handler that waits for its answer.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/message.h"

namespace continuum::http::testing {

inline Request MakeRequest(std::string method, std::string path, std::string body = "",
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// Calls `h` and waits (bounded) for its answer.
inline Response Call(const Handler& h, Request req) {
  auto p = std::make_shared<std::promise<Response>>();
  auto f = p->get_future();
  h(std::move(req), [p](Response r) { p->set_value(std::move(r)); });
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 10 s";
    return {};
  }
  return f.get();
}

}  // namespace continuum::http::testing
