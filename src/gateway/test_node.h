// Shared by the gateway's tests: a node served by continuum_http in-process on a free port.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"

namespace continuum::gateway {

struct TestNode {
  explicit TestNode(http::Handler h, int io_threads = 2) {
    http::ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.io_threads = io_threads;
    auto s = http::Server::Start(o, std::move(h));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server = std::move(s).value();
    url = "http://127.0.0.1:" + std::to_string(server->port());
  }
  ~TestNode() { server->Stop(); }
  std::unique_ptr<http::Server> server;
  std::string url;
  std::atomic<int> hits{0};
};

// A handler that answers every request with `status` and `body`, counting them in `hits`.
inline http::Handler Answer(int status, std::string body, std::atomic<int>* hits = nullptr) {
  return [=](http::Request&&, http::Responder w) {
    if (hits) hits->fetch_add(1);
    http::Response r;
    r.status = status;
    r.body = body;
    w(std::move(r));
  };
}

// A node that holds every request until its CancelToken is set, as a model's scheduler holds a
// queued request until its client goes (then it is never run), and answers it 499 then. Counts
// the requests received and those whose token was set. Destroy after the server that calls it.
class HoldsUntilCancelled {
 public:
  http::Handler handler() {
    return [this](http::Request&& r, http::Responder w) {
      std::lock_guard<std::mutex> lock(mu_);
      received_.fetch_add(1);
      hooks_.push_back(r.cancel.OnCancel([this, w] {
        cancelled_.fetch_add(1);
        http::Response resp;
        resp.status = 499;
        w(std::move(resp));
      }));
    };
  }
  int received() const { return received_.load(); }
  int cancelled() const { return cancelled_.load(); }

 private:
  std::mutex mu_;
  std::vector<CancelToken::Hook> hooks_;
  std::atomic<int> received_{0}, cancelled_{0};
};

// Polls `done` until it holds or `limit` passes (a bound for a failing test, not a timing
// expectation); its last value.
template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  return done();
}

}  // namespace continuum::gateway
