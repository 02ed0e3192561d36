// The dispatcher with in-process (local://) nodes: answers, failures and timeouts that fall back,
// hedges between a local and a remote node, and the hook contract throughout.
#include "gateway/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/test_dispatch.h"
#include "gateway/test_node.h"
#include "http/client.h"
#include "http/message.h"

namespace continuum::gateway {
namespace {

using namespace std::chrono_literals;

const Target kPhone{"phone", "local://"};

TEST(LocalNode, AnswersInProcess) {
  http::Client c;
  http::Request seen;
  std::mutex mu;
  auto local = std::make_shared<LocalEndpoint>(&c, [&](http::Request&& r, http::Responder w) {
    {
      std::lock_guard<std::mutex> l(mu);
      seen = r;
    }
    http::Response resp;
    resp.status = 201;
    resp.content_type = "text/plain";
    resp.headers = {{"X-Continuum-Compute-Ms", "1.5"}};
    resp.body = "ran " + r.body;
    w(std::move(resp));
  });
  auto r = DispatchSync(&c, MakePlan({kPhone}, local));
  local->Detach();
  ExpectServed(r, "phone", 0);
  EXPECT_EQ(r.outcome.response.status, 201);
  EXPECT_EQ(r.outcome.response.body, "ran {\"inputs\":[]}");
  ASSERT_NE(r.outcome.response.Header("content-type"), nullptr);
  EXPECT_EQ(*r.outcome.response.Header("content-type"), "text/plain");
  ASSERT_NE(r.outcome.response.Header("x-continuum-compute-ms"), nullptr);  // names lower-cased
  EXPECT_GE(r.outcome.response.duration_ms, 0.0);
  EXPECT_TRUE(r.failures.empty());
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/v2/models/m/infer");
  EXPECT_EQ(seen.query, "x=1");
  ASSERT_NE(seen.Header("x-mixed-case"), nullptr);
  EXPECT_EQ(*seen.Header("x-mixed-case"), "v");
  EXPECT_EQ(seen.body, "{\"inputs\":[]}");
}

// The local node answers `status` with `body`, an edge node after it in the chain.
struct LocalThenEdge {
  Run run;
  int edge_hits = 0;
};
LocalThenEdge DispatchLocalThenEdge(int status, std::string body) {
  std::atomic<int> edge_hits{0};
  TestNode edge(Answer(200, "edge", &edge_hits));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, Answer(status, std::move(body)));
  Run r = DispatchSync(&c, MakePlan({kPhone, {"edge", edge.url}}, local));
  local->Detach();
  return {std::move(r), edge_hits.load()};
}

TEST(LocalNode, ServerErrorFallsBackToTheNextCandidate) {
  const auto [r, remote_hits] = DispatchLocalThenEdge(503, "{\"error\":\"busy\"}");
  ExpectServed(r, "edge", 1, "edge");
  EXPECT_EQ(r.failures, (std::vector<std::string>{"phone"}));
  ASSERT_EQ(r.outcome.attempts.size(), 2u);
  EXPECT_EQ(r.outcome.attempts[0].http_status, 503);
  EXPECT_EQ(remote_hits, 1);
}

TEST(LocalNode, ClientErrorIsReturnedUnchanged) {
  const auto [r, remote_hits] = DispatchLocalThenEdge(400, "{\"error\":\"bad input\"}");
  ASSERT_TRUE(r.outcome.served);
  EXPECT_EQ(r.outcome.response.status, 400);
  EXPECT_EQ(r.outcome.node, "phone");
  EXPECT_EQ(remote_hits, 0);
}

TEST(LocalNode, TimeoutFallsBackAndTheLateAnswerIsIgnored) {
  TestNode edge(Answer(200, "edge"));
  http::Client c;
  std::atomic<int> late{0};
  auto local = std::make_shared<LocalEndpoint>(&c, Slow(600ms, "too late", &late));
  Plan p = MakePlan({kPhone, {"edge", edge.url}}, local);
  p.attempt_timeout = 150ms;
  auto r = DispatchSync(&c, p);
  ExpectServed(r, "edge", 1);
  EXPECT_EQ(r.failures, (std::vector<std::string>{"phone"}));
  ASSERT_FALSE(r.outcome.attempts.empty());
  EXPECT_EQ(r.outcome.attempts[0].status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(r.elapsed_ms, 140);
  EXPECT_LT(r.elapsed_ms, 550);
  for (int i = 0; i < 100 && late.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(late.load(), 1);  // it answered, after the fact, and nothing ran twice
  // The late answer was posted to the client's I/O thread before `late` counted it: once a task
  // posted now has run there, that answer has been handled (and dropped).
  std::promise<void> handled;
  c.Post([&handled] { handled.set_value(); });
  handled.get_future().get();
  local->Detach();
}

TEST(LocalNode, HangHitsThePlanDeadline) {
  http::Client c;
  std::mutex mu;
  std::vector<http::Responder> held;  // never answered while the dispatch runs
  auto local = std::make_shared<LocalEndpoint>(&c, [&](http::Request&&, http::Responder w) {
    std::lock_guard<std::mutex> l(mu);
    held.push_back(std::move(w));
  });
  auto r = DispatchSync(&c, MakePlan({kPhone}, local, 200ms));
  EXPECT_FALSE(r.outcome.served);
  EXPECT_EQ(r.outcome.error.code(), StatusCode::kDeadlineExceeded) << r.outcome.error.ToString();
  EXPECT_GE(r.elapsed_ms, 180);
  EXPECT_LT(r.elapsed_ms, 1500);
  local->Detach();
  std::lock_guard<std::mutex> l(mu);
  for (auto& w : held) w(http::Response{});  // after the fact and after Detach: ignored
}

TEST(LocalNode, DroppedResponderIsAFailure) {
  TestNode edge(Answer(200, "edge"));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, [](http::Request&&, http::Responder) {});
  auto r = DispatchSync(&c, MakePlan({kPhone, {"edge", edge.url}}, local));
  local->Detach();
  ASSERT_TRUE(r.outcome.served);
  EXPECT_EQ(r.outcome.node, "edge");
  EXPECT_EQ(r.failures, (std::vector<std::string>{"phone"}));
}

TEST(LocalNode, WithoutAHandlerTheAttemptFailsClearly) {
  TestNode edge(Answer(200, "edge"));
  http::Client c;
  auto r = DispatchSync(&c, MakePlan({kPhone, {"edge", edge.url}}, nullptr));
  ASSERT_TRUE(r.outcome.served);
  EXPECT_EQ(r.outcome.node, "edge");
  ASSERT_FALSE(r.outcome.attempts.empty());
  EXPECT_NE(r.outcome.attempts[0].status.message().find("in-process"), std::string::npos)
      << r.outcome.attempts[0].status.ToString();
  r = DispatchSync(&c, MakePlan({kPhone}, nullptr));
  EXPECT_FALSE(r.outcome.served);
  EXPECT_NE(r.outcome.error.message().find("local://"), std::string::npos) << r.outcome.error.ToString();
}

TEST(LocalNode, RemoteHedgeBeatsASlowLocalNode) {
  TestNode edge(Answer(200, "edge"));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, Slow(1000ms, "phone"));
  auto r = DispatchSync(&c, Hedged(MakePlan({kPhone}, local), Target{"edge", edge.url}, 50ms));
  ExpectServed(r, "edge", -1, "edge");
  EXPECT_LT(r.elapsed_ms, 800);
  EXPECT_TRUE(r.failures.empty());
  EXPECT_EQ(r.cancels, (std::vector<std::string>{"phone"}));  // the local loser, abandoned
  local->Detach();
}

// With await_losers the hedge still answers at once, but the loser stays counted on its node until
// its own answer comes (and is dropped); without, it is abandoned with the outcome.
// Answers with the body it was sent.
http::Handler Echo() {
  return [](http::Request&& r, http::Responder w) {
    http::Response resp;
    resp.body = "got " + r.body;
    w(std::move(resp));
  };
}

// The request is sent whole to every node that gets a copy: a fallback after a failed attempt,
// and a hedge after the chain's last attempt went out.
TEST(Dispatcher, EveryCopySentCarriesTheWholeRequest) {
  TestNode failing(Answer(503, "busy"));
  TestNode echo(Echo());
  TestNode slow(Slow(300ms, "late"));
  http::Client c;
  auto fallback = DispatchSync(&c, MakePlan({{"failing", failing.url}, {"echo", echo.url}}));
  ExpectServed(fallback, "echo", 1, "got {\"inputs\":[]}");
  auto hedged = DispatchSync(&c, Hedged(MakePlan({{"slow", slow.url}}), Target{"echo", echo.url}, 20ms));
  ExpectServed(hedged, "echo", -1, "got {\"inputs\":[]}");
  auto both = DispatchSync(
      &c, Hedged(MakePlan({{"slow", slow.url}, {"echo", echo.url}}), Target{"echo", echo.url}, 20ms));
  ExpectServed(both, "echo", -1, "got {\"inputs\":[]}");
}

// The bytes an answer is learned with are the request's and the answer's, also when the request
// went out with its last send.
TEST(Dispatcher, TheSuccessHookCountsTheRequestAndTheAnswer) {
  TestNode echo(Echo());
  http::Client c;
  DispatchHooks hooks;
  std::promise<uint64_t> bytes;
  hooks.on_success = [&bytes](const std::string&, const http::ClientResponse&, uint64_t n) {
    bytes.set_value(n);
  };
  http::ClientRequest req;
  req.target = "/v2/models/m/infer";
  req.body = "{\"inputs\":[]}";
  std::promise<Outcome> done;
  Dispatch(&c, MakePlan({{"echo", echo.url}}), req, hooks,
           [&done](Outcome o) { done.set_value(std::move(o)); });
  Outcome o = done.get_future().get();
  ASSERT_TRUE(o.served) << o.error.ToString();
  EXPECT_EQ(bytes.get_future().get(), req.body.size() + o.response.body.size());
}

TEST(Dispatcher, TheHedgeLoserEndsWhenItsAnswerComesIfAwaited) {
  TestNode slow(Slow(300ms, "late"));
  TestNode fast(Answer(200, "hedge"));
  http::Client c;
  for (bool await : {true, false}) {
    SCOPED_TRACE(await ? "awaited" : "cancelled");
    Plan p = Hedged(MakePlan({{"slow", slow.url}}), Target{"fast", fast.url}, 20ms);
    p.await_losers = await;
    auto r = DispatchSync(&c, p);
    ASSERT_TRUE(r.outcome.served);
    EXPECT_EQ(r.outcome.response.body, "hedge");
    EXPECT_LT(r.elapsed_ms, 250);
    EXPECT_EQ(r.cancels, (std::vector<std::string>{"slow"}));
    if (await) {
      EXPECT_GE(r.ended_ms, 290);
    } else {
      EXPECT_LT(r.ended_ms, 250);
    }
  }
}

TEST(LocalNode, HedgeRefusedByTheBudgetIsNotSent) {
  std::atomic<int> edge_hits{0};
  TestNode edge(Answer(200, "edge", &edge_hits));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, Slow(200ms, "phone"));
  Plan p = Hedged(MakePlan({kPhone}, local), Target{"edge", edge.url}, 20ms);
  std::atomic<int> asked{0};
  auto r = DispatchSync(&c, p, [&asked](const std::vector<std::string>& busy) -> std::optional<Target> {
    ++asked;
    EXPECT_EQ(busy, std::vector<std::string>{"phone"});  // the choice, still serving
    return std::nullopt;
  });
  ExpectServed(r, "phone", 0);
  EXPECT_EQ(asked.load(), 1);  // asked once, when the hedge was due
  EXPECT_EQ(edge_hits.load(), 0);
  EXPECT_TRUE(r.cancels.empty());
  local->Detach();
}

TEST(LocalNode, HedgeGoesWhereTheHookSaysWhenItIsDue) {
  std::atomic<int> edge_hits{0}, cloud_hits{0};
  TestNode edge(Answer(200, "edge", &edge_hits));
  TestNode cloud(Answer(200, "cloud", &cloud_hits));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, Slow(1000ms, "phone"));
  Plan p =
      Hedged(MakePlan({kPhone}, local), Target{"edge", edge.url}, 20ms);  // the runner-up at decision time
  auto r = DispatchSync(&c, p, [&cloud](const std::vector<std::string>&) -> std::optional<Target> {
    return Target{"cloud", cloud.url};  // the best node when the hedge is due
  });
  ExpectServed(r, "cloud", -1);
  EXPECT_EQ(edge_hits.load(), 0);
  EXPECT_EQ(cloud_hits.load(), 1);
  local->Detach();
}

TEST(LocalNode, LocalHedgeBeatsASlowTestNode) {
  TestNode cloud(Slow(1000ms, "cloud"));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, Answer(200, "phone"));
  auto r = DispatchSync(&c, Hedged(MakePlan({{"cloud", cloud.url}}, local), kPhone, 50ms));
  ExpectServed(r, "phone", -1, "phone");
  EXPECT_LT(r.elapsed_ms, 800);
  EXPECT_EQ(r.cancels, (std::vector<std::string>{"cloud"}));
  local->Detach();
}

TEST(LocalNode, DetachDropsPendingCallbacks) {
  std::mutex mu;
  std::vector<http::Responder> held;
  std::atomic<int> callbacks{0};
  {
    http::Client c;
    LocalEndpoint local(&c, [&](http::Request&&, http::Responder w) {
      std::lock_guard<std::mutex> l(mu);
      held.push_back(std::move(w));
    });
    std::promise<void> sent;
    c.Post([&] {
      local.Send(http::ClientRequest{}, std::chrono::steady_clock::now() + 10s,
                 [&](const StatusOr<http::ClientResponse>&) { callbacks.fetch_add(1); });
      sent.set_value();
    });
    sent.get_future().wait();
    local.Detach();
    local.Detach();  // idempotent
  }                  // the client is gone
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(held.size(), 1u);
  held[0](http::Response{});  // must not touch the destroyed client
  EXPECT_EQ(callbacks.load(), 0);
}

// The node's request carries a token of its own: whatever ends the call without the node's answer
// sets it, so a node that has not started the request drops it instead of computing it.
TEST(LocalNode, AHedgeLosersTokenIsSetOnceTheWinnerAnswers) {
  for (bool await : {true, false}) {
    SCOPED_TRACE(await ? "awaited" : "cancelled");
    HoldsUntilCancelled phone;
    TestNode edge(Answer(200, "edge"));
    http::Client c;
    auto local = std::make_shared<LocalEndpoint>(&c, phone.handler());
    Plan p = Hedged(MakePlan({kPhone}, local), Target{"edge", edge.url}, 0ms);
    p.await_losers = await;
    auto r = DispatchSync(&c, p);
    ExpectServed(r, "edge", -1, "edge");
    EXPECT_TRUE(Eventually([&] { return phone.cancelled() == 1; }));
    EXPECT_EQ(phone.received(), 1);
    EXPECT_EQ(r.cancels, (std::vector<std::string>{"phone"}));  // awaited, it ended with its 499
    local->Detach();
  }
}

TEST(LocalNode, ATimedOutAttemptsTokenIsSet) {
  HoldsUntilCancelled phone;
  TestNode edge(Answer(200, "edge"));
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, phone.handler());
  Plan p = MakePlan({kPhone, {"edge", edge.url}}, local);
  p.attempt_timeout = 50ms;
  auto r = DispatchSync(&c, p);
  ExpectServed(r, "edge", 1, "edge");
  EXPECT_EQ(r.failures, (std::vector<std::string>{"phone"}));
  EXPECT_TRUE(Eventually([&] { return phone.cancelled() == 1; }));
  local->Detach();
}

// The client leaving (Plan::cancel) cancels every call still out, in-process and over a socket
// (whose node sees its connection close and cancels in turn), and ends the dispatch.
TEST(Dispatcher, TheClientLeavingCancelsEveryCallOut) {
  HoldsUntilCancelled phone, edge_node;
  TestNode edge(edge_node.handler());
  http::Client c;
  auto local = std::make_shared<LocalEndpoint>(&c, phone.handler());
  Plan p = Hedged(MakePlan({kPhone}, local), Target{"edge", edge.url}, 0ms);
  p.await_losers = true;  // the client's leaving cancels even the calls that would be awaited
  CancelToken client = CancelToken::Make();
  p.cancel = client;
  auto run = std::async(std::launch::async, [&] { return DispatchSync(&c, p); });
  ASSERT_TRUE(Eventually([&] { return phone.received() == 1 && edge_node.received() == 1; }));
  EXPECT_EQ(phone.cancelled() + edge_node.cancelled(), 0);
  client.Cancel();
  auto r = run.get();
  EXPECT_FALSE(r.outcome.served);
  EXPECT_EQ(r.outcome.error.code(), StatusCode::kCancelled) << r.outcome.error.ToString();
  EXPECT_TRUE(r.failures.empty());  // no node is blamed
  EXPECT_EQ(r.cancels.size(), 2u);
  EXPECT_TRUE(Eventually([&] { return phone.cancelled() == 1 && edge_node.cancelled() == 1; }));
  local->Detach();
}

TEST(Dispatcher, AClientGoneBeforeTheDispatchStartsSendsNothing) {
  HoldsUntilCancelled edge_node;
  TestNode edge(edge_node.handler());
  http::Client c;
  Plan p = MakePlan({{"edge", edge.url}});
  p.cancel = CancelToken::Make();
  p.cancel.Cancel();
  auto r = DispatchSync(&c, p);
  EXPECT_EQ(r.outcome.error.code(), StatusCode::kCancelled) << r.outcome.error.ToString();
  EXPECT_EQ(edge_node.received(), 0);
}

}  // namespace
}  // namespace continuum::gateway
