// Shared by the gateway's tests: a node served by continuum_http in-process on a free port.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

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

}  // namespace continuum::gateway
