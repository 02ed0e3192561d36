#include "http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/io_loop.h"
#include "http/test_client.h"

namespace continuum::http {
namespace {

using namespace test_support;  // NOLINT

// Each test runs one server (Serve) unless it needs more.
class HttpServerTest : public ::testing::Test {
 protected:
  // Starts the server under test; false (and a failure) when it does not start.
  bool Serve(Handler handler, const ServerOptions& options = TestOptions()) {
    server_ = StartOrDie(options, std::move(handler));
    return server_ != nullptr;
  }
  uint16_t port() const { return server_->port(); }

  std::unique_ptr<Server> server_;
};

// Echoes the request back: metadata in headers, the request body as the response body.
void Echo(Request&& req, Responder respond) {
  Response r;
  r.content_type = "text/plain";
  r.headers = {{"X-Method", req.method},
               {"X-Path", req.path},
               {"X-Query", req.query},
               {"X-Remote", req.remote},
               {"X-Header-Count", std::to_string(req.headers.size())}};
  if (const std::string* h = req.Header("x-test")) r.headers.emplace_back("X-Test-Echo", *h);
  r.body = std::move(req.body);
  respond(std::move(r));
}

TEST_F(HttpServerTest, PortZeroPicksAPort) {
  ASSERT_TRUE(Serve(Echo));
  EXPECT_NE(port(), 0);
}

// On a shared loop: requests are served on the loop's thread, and Stop (from another thread)
// waits until the listener and every connection are gone while the loop keeps running.
TEST_F(HttpServerTest, ServesOnASharedLoopAndStopsWithoutStoppingIt) {
  auto loop = IoLoop::Start();
  ASSERT_TRUE(loop.ok());
  ServerOptions o = TestOptions();
  o.io_threads = 2;
  o.loops = {*loop};
  EXPECT_FALSE(Server::Start(o, Echo).ok()) << "one I/O thread per shared loop";
  o.io_threads = 1;
  std::atomic<int> on_loop{0};
  ASSERT_TRUE(Serve(
      [&on_loop, l = *loop](Request&& req, Responder respond) {
        if (l->InLoopThread()) ++on_loop;
        Echo(std::move(req), std::move(respond));
      },
      o));
  {
    Client c(port());
    ASSERT_TRUE(c.connected());
    for (int i = 0; i < 3; ++i) {
      auto r = c.Exchange("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->status, 200);
    }
  }
  EXPECT_EQ(on_loop.load(), 3);
  Client idle(port());  // a connection still open at Stop
  ASSERT_TRUE(idle.connected());
  {
    // Connections are accepted first in, first out: a round trip on one opened later proves
    // that the server holds `idle`.
    Client later(port());
    ASSERT_TRUE(later.Send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
    ASSERT_TRUE(later.Read().has_value());
  }
  const uint16_t old_port = port();
  server_->Stop();
  server_.reset();
  EXPECT_FALSE(Client(old_port).connected());
  // The loop still runs for its other users.
  std::promise<void> ran;
  boost::asio::post((*loop)->context(), [&ran] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(2s), std::future_status::ready);
}

// On a shared loop, an answer given on the loop's thread outside the connection's own handlers
// (as a forwarded answer arrives, on the client's completion) is written before the responder
// returns (the connection skips its strand there): the loop, blocked in the same task, would
// never run a write posted for later.
TEST_F(HttpServerTest, AnswerOnTheLoopThreadIsWrittenBeforeTheResponderReturns) {
  auto loop = IoLoop::Start();
  ASSERT_TRUE(loop.ok());
  ServerOptions o = TestOptions();
  o.io_threads = 1;
  o.loops = {*loop};
  std::promise<Responder> held;
  ASSERT_TRUE(Serve([&held](Request&&, Responder respond) { held.set_value(std::move(respond)); }, o));
  Client c(port());
  ASSERT_TRUE(c.Send("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto responder_future = held.get_future();
  ASSERT_EQ(responder_future.wait_for(5s), std::future_status::ready);
  Responder respond = responder_future.get();
  std::promise<bool> written;
  boost::asio::post((*loop)->context(), [&] {
    Response r;
    r.body = "now";
    respond(std::move(r));
    written.set_value(c.Readable(5000ms));  // the loop's thread stays here meanwhile
  });
  auto written_future = written.get_future();
  ASSERT_EQ(written_future.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(written_future.get()) << "the answer waited for a later turn of the loop";
  ExpectResponse(c.Read(), 200, "now");
}

TEST_F(HttpServerTest, GetRoundtripWithHeaders) {
  ASSERT_TRUE(Serve(Echo));
  Client c(port());
  ASSERT_TRUE(c.connected());
  auto r = c.Exchange(
      "GET /v2/models/my%20model/ready?x=1&y=%20 HTTP/1.1\r\n"
      "Host: localhost\r\nX-TEST: Hello There\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->H("x-method"), "GET");
  EXPECT_EQ(r->H("x-path"), "/v2/models/my model/ready");
  EXPECT_EQ(r->H("x-query"), "x=1&y=%20");
  EXPECT_EQ(r->H("x-test-echo"), "Hello There");
  EXPECT_EQ(r->H("x-header-count"), "2");
  EXPECT_EQ(r->H("x-remote").rfind("127.0.0.1:", 0), 0u) << r->H("x-remote");
  EXPECT_EQ(r->H("server"), "continuum");
  EXPECT_EQ(r->H("content-type"), "text/plain");
  EXPECT_EQ(r->H("content-length"), "0");
  EXPECT_FALSE(r->H("date").empty());
  EXPECT_EQ(r->H("connection"), "");
}

TEST_F(HttpServerTest, PostRoundtripWithBody) {
  ASSERT_TRUE(Serve(Echo));
  Client c(port());
  const std::string body = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})";
  auto r = c.Exchange(
      "POST /v2/models/m/infer HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->H("x-method"), "POST");
  EXPECT_EQ(r->body, body);
  EXPECT_EQ(r->H("content-length"), std::to_string(body.size()));
}

TEST_F(HttpServerTest, ChunkedRequestBody) {
  ASSERT_TRUE(Serve(Echo));
  Client c(port());
  auto r = c.Exchange(
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ExpectResponse(r, 200, "hello world");
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  ASSERT_TRUE(Serve(Echo));
  Client c(port());
  for (int i = 0; i < 5; ++i) {
    const std::string body = "request " + std::to_string(i);
    auto r = c.Exchange("POST /seq/" + std::to_string(i) +
                        " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->body, body);
  }
  // Three pipelined requests in one segment come back in order.
  ASSERT_TRUE(
      c.Send("GET /p/1 HTTP/1.1\r\n\r\nPOST /p/2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
             "GET /p/3 HTTP/1.1\r\n\r\n"));
  for (int i = 1; i <= 3; ++i) {
    auto r = c.Read();
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_EQ(r->H("x-path"), "/p/" + std::to_string(i));
    if (i == 2) {
      EXPECT_EQ(r->body, "abc");
    }
  }
}

TEST_F(HttpServerTest, HandlerAnswersFromAnotherThreadLater) {
  std::mutex mu;
  std::vector<std::thread> workers;
  ASSERT_TRUE(Serve([&](Request&& req, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    workers.emplace_back([path = req.path, respond = std::move(respond)] {
      std::this_thread::sleep_for(50ms);  // the late answer is the behaviour under test
      Response r;
      r.body = path;
      respond(std::move(r));
    });
  }));
  Client a(port());
  Client b(port());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(a.Send("GET /a HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /b HTTP/1.1\r\n\r\n"));
  auto ra = a.Read();
  auto rb = b.Read();
  ASSERT_TRUE(ra.has_value());
  ASSERT_TRUE(rb.has_value());
  EXPECT_EQ(ra->body, "/a");
  EXPECT_EQ(rb->body, "/b");
  EXPECT_GE(SteadyClock::now() - start, 50ms);
  // The connection is reusable after an asynchronous answer.
  auto again = a.Exchange("GET /again HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->body, "/again");
  std::lock_guard<std::mutex> lock(mu);
  for (auto& t : workers) t.join();
}

TEST_F(HttpServerTest, DroppedResponderGives500) {
  ASSERT_TRUE(Serve([](Request&& req, Responder respond) {
    if (req.path == "/drop") return;  // forgets to answer
    Echo(std::move(req), std::move(respond));
  }));
  Client c(port());
  auto r = c.Exchange("GET /drop HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->H("content-type"), "application/json");
  EXPECT_NE(r->body.find("\"error\""), std::string::npos);
  auto ok = c.Exchange("GET /fine HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, ThrowingHandlerGives500AndSecondAnswerIsIgnored) {
  ASSERT_TRUE(Serve([](Request&& req, Responder respond) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    Response first;
    first.status = 201;
    Responder copy = respond;
    respond(std::move(first));
    Response second;
    second.status = 202;
    copy(std::move(second));
  }));
  Client c(port());
  auto r = c.Exchange("GET /throw HTTP/1.1\r\n\r\nGET /twice HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 500);
  auto r2 = c.Read();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 201);
  EXPECT_FALSE(c.Readable(100ms));  // no stray second response
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  ASSERT_TRUE(Serve([](Request&& req, Responder respond) {
    Response r;
    r.body = "hello";
    r.content_type = "text/plain";
    respond(std::move(r));
  }));
  Client c(port());
  ASSERT_TRUE(c.Send("HEAD / HTTP/1.1\r\n\r\n"));
  auto r = c.Read(/*head_request=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->H("content-length"), "5");
  // If the body had been sent, it would be read as the next response's status line.
  auto g = c.Exchange("GET / HTTP/1.1\r\n\r\n");
  ExpectResponse(g, 200, "hello");
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10) {
  ASSERT_TRUE(Serve(Echo));
  {
    Client c(port());
    auto r = c.Exchange("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->H("connection"), "close");
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    Client c(port());
    auto r = c.Exchange("GET / HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->H("connection"), "close");
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    Client c(port());
    auto r = c.Exchange("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->H("connection"), "keep-alive");
    auto r2 = c.Exchange("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r2.has_value());
    EXPECT_EQ(r2->H("x-path"), "/2");
  }
}

TEST_F(HttpServerTest, HandlerCanAskToClose) {
  ASSERT_TRUE(Serve([](Request&&, Responder respond) {
    Response r;
    r.headers = {{"Connection", "close"}};
    respond(std::move(r));
  }));
  Client c(port());
  auto r = c.Exchange("GET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->H("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, ExpectContinue) {
  ASSERT_TRUE(Serve(Echo));
  Client c(port());
  auto interim = c.Exchange("POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  auto r = c.Exchange("hello");
  ExpectResponse(r, 200, "hello");
}

// ---- limits ------------------------------------------------------------------------------

TEST_F(HttpServerTest, PayloadTooLargeAnsweredBeforeTheBody) {
  std::atomic<int> calls{0};
  ServerOptions o = TestOptions();
  o.max_body_bytes = 1024;
  ASSERT_TRUE(Serve(
      [&](Request&& req, Responder respond) {
        ++calls;
        Echo(std::move(req), std::move(respond));
      },
      o));
  {
    // Only the header is sent: the 413 must come without waiting for the body.
    Client c(port());
    ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n"));
    auto r = c.Read(false, 1000ms);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->H("content-type"), "application/json");
    EXPECT_EQ(r->H("connection"), "close");
    EXPECT_NE(r->body.find("\"error\""), std::string::npos);
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // Chunked bodies are limited too.
    Client c(port());
    const std::string chunk(800, 'x');
    auto r = c.Exchange("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
                        "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    // At the limit is fine.
    Client c(port());
    const std::string body(1024, 'y');
    auto r = c.Exchange("POST / HTTP/1.1\r\nContent-Length: 1024\r\n\r\n" + body);
    ExpectResponse(r, 200, body);
  }
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(HttpServerTest, HeaderTooLarge) {
  ServerOptions o = TestOptions();
  o.max_header_bytes = 1024;
  ASSERT_TRUE(Serve(Echo, o));
  Client c(port());
  auto r = c.Exchange("GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->H("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

// The handler gets the target as received beside the decoded path: an escaped CR LF stays
// escaped there, and the decoded path (which holds it) cannot be written back as a header.
TEST_F(HttpServerTest, KeepsTheRawTargetAndNeverWritesControlCharacters) {
  ASSERT_TRUE(Serve([](Request&& req, Responder respond) {
    Response r;
    r.headers = {{"X-Target", req.target},
                 {"X-Path", req.path},
                 {"X-Tab", "a\tb"},
                 {"X-Del",
                  "a\x7f"
                  "b"},
                 {"X-Vt",
                  "a\x0b"
                  "b"}};
    respond(std::move(r));
  }));
  Client c(port());
  ASSERT_TRUE(c.connected());
  auto r = c.Exchange("GET /a/x%0d%0aX-Injected:%20yes?q=%0a HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->H("x-target"), "/a/x%0d%0aX-Injected:%20yes?q=%0a");
  EXPECT_EQ(r->H("x-path"), "");  // holds CR LF: not written
  EXPECT_EQ(r->H("x-injected"), "");
  EXPECT_EQ(r->H("x-tab"), "a\tb");
  EXPECT_EQ(r->H("x-del"), "");
  EXPECT_EQ(r->H("x-vt"), "");
}

TEST_F(HttpServerTest, MalformedRequestsGet400) {
  ASSERT_TRUE(Serve(Echo));
  const char* bad[] = {
      "HELLO WORLD\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      "GET /bad%zz HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
      "GET /a\x01z HTTP/1.1\r\n\r\n",
      "GET /a\x7fz HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Nul: a\x01z\r\n\r\n",
  };
  for (const char* request : bad) {
    Client c(port());
    auto r = c.Exchange(request);
    ASSERT_TRUE(r.has_value()) << request;
    EXPECT_EQ(r->status, 400) << request;
    EXPECT_EQ(r->H("connection"), "close") << request;
    EXPECT_TRUE(c.WaitClosed()) << request;
  }
}

TEST_F(HttpServerTest, SlowHeadersGet408) {
  ServerOptions o = TestOptions();
  o.header_timeout = 300ms;
  ASSERT_TRUE(Serve(Echo, o));
  Client c(port());
  const auto start = SteadyClock::now();
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\n"));
  // Slow-loris: a header line every 50 ms keeps every single read short.
  for (int i = 0; i < 40 && !c.Readable(50ms); ++i) c.Send("X-Drip: 1\r\n");
  auto r = c.Read();
  const auto elapsed = SteadyClock::now() - start;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(r->H("connection"), "close");
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, HalfSentBodyGets408) {
  ServerOptions o = TestOptions();
  o.body_timeout = 300ms;
  ASSERT_TRUE(Serve(Echo, o));
  Client c(port());
  const auto start = SteadyClock::now();
  auto r = c.Exchange("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_GE(SteadyClock::now() - start, 250ms);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(HttpServerTest, IdleConnectionsAreClosedSilently) {
  ServerOptions o = TestOptions();
  o.idle_timeout = 200ms;
  o.header_timeout = 300ms;
  ASSERT_TRUE(Serve(Echo, o));
  Client used(port());
  Client silent(port());  // never sends a byte
  ASSERT_TRUE(used.Send("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(used.Read().has_value());
  const auto start = SteadyClock::now();
  EXPECT_TRUE(used.WaitClosed(1500ms));  // no 408 on an idle keep-alive connection
  EXPECT_GE(SteadyClock::now() - start, 150ms);
  EXPECT_TRUE(silent.WaitClosed(1500ms));
}

TEST_F(HttpServerTest, MaxConnections) {
  ServerOptions o = TestOptions();
  o.max_connections = 2;
  ASSERT_TRUE(Serve(Echo, o));
  auto a = std::make_unique<Client>(port());
  Client b(port());
  for (Client* c : {a.get(), &b}) {  // a round trip proves both are registered
    ASSERT_TRUE(c->Send("GET / HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(c->Read().has_value());
  }
  Client over(port());
  EXPECT_TRUE(over.WaitClosed(1000ms));
  a.reset();  // frees a slot once the server notices
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    Client d(port());
    if (d.Send("GET / HTTP/1.1\r\n\r\n")) {
      auto r = d.Read(false, 500ms);
      served = r.has_value() && r->status == 200;
    }
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpServerTest, RefusesZeroAcceptsPerWakeup) {
  ServerOptions o = TestOptions();
  o.max_accepts_per_wakeup = 0;
  const auto s = Server::Start(o, Echo);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

// Connections that queue up while the loop is busy are accepted several per wake-up (here 2, so
// batches end while more wait): the first ones up to max_connections are served, the rest closed.
TEST_F(HttpServerTest, AcceptsABurstInBatchesWithinMaxConnections) {
  constexpr int kBurst = 9;
  ServerOptions o = TestOptions();
  o.io_threads = 1;  // a blocked handler holds the only loop while the burst queues
  o.max_connections = 6;
  o.max_accepts_per_wakeup = 2;
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(Serve(
      [&entered, released](Request&& req, Responder respond) {
        if (req.path == "/block") {
          entered.set_value();
          released.wait();
        }
        Echo(std::move(req), std::move(respond));
      },
      o));
  Client blocker(port());  // stays open (keep-alive): holds one of the 6 slots
  ASSERT_TRUE(blocker.Send("GET /block HTTP/1.1\r\n\r\n"));
  entered.get_future().wait();
  std::vector<std::unique_ptr<Client>> burst;
  for (int i = 0; i < kBurst; ++i) {
    burst.push_back(std::make_unique<Client>(port()));  // completes in the listen backlog
    ASSERT_TRUE(burst.back()->connected());
    ASSERT_TRUE(burst.back()->Send("GET /b HTTP/1.1\r\n\r\n"));
  }
  release.set_value();
  auto r = blocker.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  for (int i = 0; i < kBurst; ++i) {
    if (i < 5) {
      auto got = burst[i]->Read();
      ASSERT_TRUE(got.has_value()) << "connection " << i << " was not served";
      EXPECT_EQ(got->status, 200);
    } else {
      EXPECT_TRUE(burst[i]->WaitClosed()) << "connection " << i << " is over max_connections";
    }
  }
}

TEST_F(HttpServerTest, WriteTimeoutCutsOffAClientThatDoesNotRead) {
  constexpr size_t kBig = 48u << 20;  // far more than loopback socket buffers hold
  ServerOptions o = TestOptions();
  o.write_timeout = 200ms;
  ASSERT_TRUE(Serve(
      [](Request&&, Responder respond) {
        Response r;
        r.body.assign(kBig, 'z');
        respond(std::move(r));
      },
      o));
  Client c(port());
  ASSERT_TRUE(c.Send("GET /big HTTP/1.1\r\n\r\n"));
  std::this_thread::sleep_for(600ms);  // not reading: the server's write stalls
  auto r = c.Read(false, 2000ms);
  EXPECT_FALSE(r.has_value());  // the connection died before the whole body came
}

// ---- lifecycle ---------------------------------------------------------------------------

TEST_F(HttpServerTest, StopWithPendingRequests) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Responder> parked;
  ASSERT_TRUE(Serve([&](Request&&, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    parked.push_back(std::move(respond));
    cv.notify_all();
  }));
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(clients.back()->Send("GET / HTTP/1.1\r\n\r\n"));
  }
  Client partial(port());
  ASSERT_TRUE(partial.Send("GET / HTTP/1.1\r\nX-Half"));  // mid-header
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 2s, [&] { return parked.size() == 3; }));
  }
  const auto start = SteadyClock::now();
  server_->Stop();
  EXPECT_LT(SteadyClock::now() - start, 1s);
  server_->Stop();  // idempotent
  for (auto& c : clients) EXPECT_TRUE(c->WaitClosed(1000ms));
  EXPECT_TRUE(partial.WaitClosed(1000ms));
  // Answering after Stop, and after the server is gone, does nothing.
  parked[0](Response{});
  server_.reset();
  parked[1](Response{});
  parked.clear();  // the third is dropped: its 500 goes nowhere
}

TEST_F(HttpServerTest, DestructorStopsWhileHandlerThreadAnswersConcurrently) {
  // Responders racing with shutdown from another thread must neither crash nor hang.
  for (int round = 0; round < 5; ++round) {
    std::mutex mu;
    std::vector<Responder> parked;
    auto server = StartOrDie(TestOptions(), [&](Request&&, Responder respond) {
      std::lock_guard<std::mutex> lock(mu);
      parked.push_back(std::move(respond));
    });
    ASSERT_NE(server, nullptr);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 4; ++i) {
      clients.push_back(std::make_unique<Client>(server->port()));
      clients.back()->Send("GET / HTTP/1.1\r\n\r\n");
    }
    std::atomic<bool> done{false};
    std::thread answerer([&] {
      while (!done.load()) {
        std::vector<Responder> batch;
        {
          std::lock_guard<std::mutex> lock(mu);
          batch.swap(parked);
        }
        for (auto& r : batch) r(Response{});
        std::this_thread::yield();
      }
    });
    // Stops at a different moment of the exchanges each round (what is under test), not a wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * round));
    server.reset();
    done = true;
    answerer.join();
  }
}

TEST_F(HttpServerTest, BindErrorsAreStatuses) {
  auto first = StartOrDie(TestOptions(), Echo);
  ASSERT_NE(first, nullptr);
  ServerOptions o = TestOptions();
  o.port = first->port();
  auto second = Server::Start(o, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(std::to_string(first->port())), std::string::npos);

  ServerOptions bad = TestOptions();
  bad.address = "not-an-address";
  auto third = Server::Start(bad, Echo);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kInvalidArgument);

  EXPECT_FALSE(Server::Start(TestOptions(), Handler{}).ok());
}

}  // namespace
}  // namespace continuum::http
