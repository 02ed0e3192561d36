// Shared by the dispatcher's tests: a dispatch run to its end, the plans it is given, and a node
// that answers late.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/dispatcher.h"
#include "http/client.h"

namespace continuum::gateway {

// Answers after `delay` from another thread (never blocks the server), as a model's scheduler
// would; counts the answers given in `answered`.
inline http::Handler Slow(std::chrono::milliseconds delay, std::string body,
                          std::atomic<int>* answered = nullptr) {
  return [=](http::Request&&, http::Responder w) {
    std::thread([=] {
      std::this_thread::sleep_for(delay);
      http::Response r;
      r.body = body;
      w(std::move(r));
      if (answered) answered->fetch_add(1);
    }).detach();
  };
}

struct Run {
  Outcome outcome;
  std::vector<std::string> failures, cancels;
  double elapsed_ms = 0;  // until the outcome
  double ended_ms = 0;    // until every copy sent had ended (to ~10 ms)
};

// Dispatches and waits; checks that every on_send got exactly one on_failure/success/cancel.
inline Run DispatchSync(
    http::Client* c, Plan plan,
    std::function<std::optional<Target>(const std::vector<std::string>&)> hedge_target = nullptr) {
  using namespace std::chrono_literals;
  struct Counts {
    std::mutex mu;
    std::vector<std::string> failures, cancels;
    std::atomic<int> balance{0};
  };
  auto counts = std::make_shared<Counts>();
  DispatchHooks hooks;
  hooks.on_send = [counts](const std::string&) { counts->balance.fetch_add(1); };
  hooks.on_cancel = [counts](const std::string& n) {
    std::lock_guard<std::mutex> l(counts->mu);
    counts->cancels.push_back(n);
    counts->balance.fetch_sub(1);
  };
  hooks.on_success = [counts](const std::string&, auto&&...) { counts->balance.fetch_sub(1); };
  hooks.on_failure = [counts](const std::string& n) {
    std::lock_guard<std::mutex> l(counts->mu);
    counts->failures.push_back(n);
    counts->balance.fetch_sub(1);
  };
  hooks.hedge_target = std::move(hedge_target);
  http::ClientRequest req;
  req.target = "/v2/models/m/infer?x=1";
  req.headers = {{"X-Mixed-Case", "v"}, {"content-type", "application/json"}};
  req.body = "{\"inputs\":[]}";
  std::promise<Outcome> p;
  auto t0 = std::chrono::steady_clock::now();
  Dispatch(c, std::move(plan), req, hooks, [&p](Outcome o) { p.set_value(std::move(o)); });
  Run r;
  r.outcome = p.get_future().get();
  r.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // Every copy sent ends (answer, failure or cancellation), soon after the outcome.
  for (int i = 0; i < 300 && counts->balance.load() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(counts->balance.load(), 0);
  r.ended_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard<std::mutex> l(counts->mu);
  r.failures = counts->failures;
  r.cancels = counts->cancels;
  return r;
}

inline Plan MakePlan(std::vector<Target> chain, std::shared_ptr<LocalEndpoint> local = nullptr,
                     std::chrono::milliseconds budget = std::chrono::seconds(5)) {
  Plan p;
  p.chain = std::move(chain);
  p.deadline = std::chrono::steady_clock::now() + budget;
  p.local = std::move(local);
  return p;
}

// `p` with a hedge to `hedge` after `delay`.
inline Plan Hedged(Plan p, Target hedge, std::chrono::milliseconds delay) {
  p.hedge = std::move(hedge);
  p.hedge_delay = delay;
  return p;
}

// The run was served by `node` at `step` (-1: the hedge), and with `body` when one is given.
inline void ExpectServed(const Run& r, const std::string& node, int step,
                         std::optional<std::string> body = std::nullopt) {
  ASSERT_TRUE(r.outcome.served) << r.outcome.error.ToString();
  EXPECT_EQ(r.outcome.node, node);
  EXPECT_EQ(r.outcome.step, step);
  if (body) {
    EXPECT_EQ(r.outcome.response.body, *body);
  }
}

}  // namespace continuum::gateway
