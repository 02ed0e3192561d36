// http::CallHandler: a handler called in-process, its answer awaited with a deadline.
#include "http/message.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

namespace continuum::http {
namespace {

using std::chrono::steady_clock;

Request Get(std::string path) {
  Request r;
  r.method = "GET";
  r.path = std::move(path);
  return r;
}

Response Status500() {
  Response r;
  r.status = 500;
  return r;
}

TEST(CallHandler, AnswerOnTheCallingThreadOrAnother) {
  auto same = CallHandler(
      [](Request&& r, Responder w) {
        Response out;
        out.status = 201;
        out.body = r.method + " " + r.path;
        w(std::move(out));
      },
      Get("/metrics"), steady_clock::time_point::max());
  ASSERT_TRUE(same.ok()) << same.status().message();
  EXPECT_EQ(same->status, 201);
  EXPECT_EQ(same->body, "GET /metrics");

  std::thread later;
  auto other = CallHandler(
      [&later](Request&&, Responder w) {
        later = std::thread([w] {
          Response out;
          out.body = "later";
          w(out);
          w(Status500());  // a second answer is ignored
        });
      },
      Request{}, steady_clock::now() + std::chrono::seconds(60));
  later.join();
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(other->body, "later");
}

TEST(CallHandler, DeadlineCancelsTheRequest) {
  Responder kept;
  CancelToken seen;
  auto r = CallHandler(
      [&](Request&& req, Responder w) {
        seen = req.cancel;
        kept = std::move(w);  // never answered before the deadline
      },
      Request{}, steady_clock::now() + std::chrono::milliseconds(1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(seen.cancelled());
  kept(Response{});  // a late answer goes nowhere
}

TEST(CallHandler, DroppedResponderIsAnError) {
  auto r =
      CallHandler([](Request&&, Responder) {}, Request{}, steady_clock::now() + std::chrono::seconds(60));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace continuum::http
