// A client that closes its connection while the handler works cancels its request (the
// request's CancelToken is set and nothing is written); the bytes of a pipelined next request
// are not a cancellation.
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "http/test_client.h"

namespace continuum::http {
namespace {

using namespace test_support;  // NOLINT

// Parks every request with its responder; the test answers them.
class Parking {
 public:
  Handler handler() {
    return [this](Request&& req, Responder respond) {
      std::lock_guard lock(mu_);
      parked_.push_back({req.path, req.cancel, std::move(respond)});
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return parked_.size() >= n; });
  }
  CancelToken token(size_t i) {
    std::lock_guard lock(mu_);
    return parked_.at(i).cancel;
  }
  void Answer(size_t i) {
    Responder r;
    std::string path;
    {
      std::lock_guard lock(mu_);
      r = parked_.at(i).respond;
      path = parked_.at(i).path;
    }
    Response resp;
    resp.body = path;
    r(std::move(resp));
  }

 private:
  struct Parked {
    std::string path;
    CancelToken cancel;
    Responder respond;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Parked> parked_;
};

// Polls until the token is set (the server's I/O thread sets it when it reads the close).
bool WaitCancelled(const CancelToken& t) {
  const auto give_up = SteadyClock::now() + 10s;
  while (!t.cancelled() && SteadyClock::now() < give_up) std::this_thread::yield();
  return t.cancelled();
}

class HttpCancelTest : public ::testing::Test {
 protected:
  void Start(const ServerOptions& o = TestOptions()) {
    server_ = StartOrDie(o, parking_.handler());
    ASSERT_NE(server_, nullptr);
  }
  // A connection whose request `path` is with the handler (the n-th parked).
  std::unique_ptr<Client> Pending(const std::string& path, size_t n) {
    auto c = std::make_unique<Client>(server_->port());
    EXPECT_TRUE(c->Send("GET " + path + " HTTP/1.1\r\n\r\n"));
    EXPECT_TRUE(parking_.WaitFor(n));
    return c;
  }
  // Answers the i-th parked request and reads the answer on `c`.
  void AnswerAndRead(Client& c, size_t i, const std::string& body) {
    ASSERT_TRUE(parking_.WaitFor(i + 1));
    parking_.Answer(i);
    auto r = c.Read();
    ASSERT_TRUE(r.has_value()) << body;
    EXPECT_EQ(r->body, body);
  }

  Parking parking_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpCancelTest, ClientClosingWhileTheHandlerWorksCancelsTheRequest) {
  Start();
  auto c = Pending("/slow", 1);
  EXPECT_FALSE(parking_.token(0).cancelled());
  c.reset();  // closed
  EXPECT_TRUE(WaitCancelled(parking_.token(0)));
  parking_.Answer(0);  // goes nowhere
  // The server serves on.
  auto d = Pending("/next", 2);
  EXPECT_FALSE(parking_.token(1).cancelled());
  AnswerAndRead(*d, 1, "/next");
}

TEST_F(HttpCancelTest, APipelinedRequestIsNotACancellation) {
  Start();
  auto c = Pending("/1", 1);
  // Sent while the first answer is pending: read and kept for later.
  ASSERT_TRUE(c->Send("POST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(c->Readable(100ms));  // nothing answered yet; the connection stays open
  for (size_t i = 0; i < 3; ++i) AnswerAndRead(*c, i, "/" + std::to_string(i + 1));
  for (size_t i = 0; i < 3; ++i) EXPECT_FALSE(parking_.token(i).cancelled()) << i;
}

TEST_F(HttpCancelTest, AClientClosingAfterPipelinedBytesStillCancels) {
  Start();
  auto c = Pending("/1", 1);
  ASSERT_TRUE(c->Send("GET /2 HTTP/1.1\r\n\r\n"));
  c.reset();
  EXPECT_TRUE(WaitCancelled(parking_.token(0)));
  parking_.Answer(0);
}

TEST_F(HttpCancelTest, PipelinedBytesPastTheHeaderLimitAreServedInTurn) {
  ServerOptions o = TestOptions();
  o.max_header_bytes = 1024;
  Start(o);
  auto c = Pending("/1", 1);
  // A second request with a body far larger than the header limit, sent whole.
  const std::string body(64 << 10, 'x');
  ASSERT_TRUE(
      c->Send("POST /2 HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  AnswerAndRead(*c, 0, "/1");
  AnswerAndRead(*c, 1, "/2");
  EXPECT_FALSE(parking_.token(0).cancelled());
}

}  // namespace
}  // namespace continuum::http
