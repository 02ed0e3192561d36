// Helpers for the filter tests: a scripted inner handler and a blocking call through a chain.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <utility>

#include "filters/filters.h"
#include "filters/internal/util.h"
#include "http/test_util.h"

namespace continuum::filters::testing {

// A request as the server hands it over, from a loopback client.
inline http::Request Req(std::string method, std::string path, std::string body = "",
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::Request r =
      http::testing::MakeRequest(std::move(method), std::move(path), std::move(body), std::move(headers));
  r.remote = "127.0.0.1:1";
  return r;
}

// The token the tests' configs give the admin API (`"admin_token": kAdminToken`).
inline constexpr const char* kAdminToken = "test-admin-token-0123456789";

// A request to the admin listener as a well-behaved client sends it: a loopback Host, the admin
// token, and a JSON content type when there is a body.
inline http::Request AdminReq(std::string method, std::string path, std::string body = "",
                              std::vector<std::pair<std::string, std::string>> headers = {}) {
  headers.emplace_back("host", "127.0.0.1:8001");
  headers.emplace_back("authorization", std::string("Bearer ") + kAdminToken);
  if (!body.empty()) headers.emplace_back("content-type", "application/json");
  return Req(std::move(method), std::move(path), std::move(body), std::move(headers));
}

using http::testing::Call;

inline std::string Header(const http::Response& r, std::string_view name) {
  const std::string* v = ResponseHeader(r, name);
  return v ? *v : std::string();
}

// An inner handler that counts its calls and answers 200 with the body "ok:<path>" and a
// compute time of `compute_ms`.
struct FakeInner {
  std::atomic<int> calls{0};
  double compute_ms = 2;
  double engine_ms = -1;       // >= 0: also reported as the engine time the request used
  std::string engine_ms_text;  // non-empty: the engine time header's value as given, instead
  int status = 200;
  http::Handler handler() {
    return [this](http::Request&& req, http::Responder respond) {
      ++calls;
      http::Response r;
      r.status = status;
      r.body = "ok:" + req.path;
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", compute_ms);
      r.headers.emplace_back("x-continuum-compute-ms", ms);
      if (!engine_ms_text.empty()) {
        r.headers.emplace_back("x-continuum-engine-ms", engine_ms_text);
      } else if (engine_ms >= 0) {
        std::snprintf(ms, sizeof ms, "%.3f", engine_ms);
        r.headers.emplace_back("x-continuum-engine-ms", ms);
      }
      respond(std::move(r));
    };
  }
};

inline std::unique_ptr<FilterChain> MustChain(std::string_view json, const ChainOptions& o = {}) {
  auto c = FilterChain::FromJson(json, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

}  // namespace continuum::filters::testing
