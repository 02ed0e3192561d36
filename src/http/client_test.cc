#include "http/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/internal/request_writer.h"
#include "http/io_loop.h"
#include "http/server.h"

namespace continuum::http {
namespace {

using namespace std::chrono_literals;

// A server on a free port.
struct TestServer {
  explicit TestServer(Handler h) {
    ServerOptions o;
    o.address = "127.0.0.1";
    o.port = 0;
    auto s = Server::Start(o, std::move(h));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    server = std::move(s).value();
    url = "http://127.0.0.1:" + std::to_string(server->port());
  }
  ~TestServer() { server->Stop(); }
  std::unique_ptr<Server> server;
  std::string url;
};

// Echoes the method, target and body, with a header of its own.
void Echo(Request&& r, Responder w) {
  Response resp;
  resp.status = 201;
  resp.content_type = "text/plain";
  resp.headers.emplace_back("X-Echo", r.Header("x-in") ? *r.Header("x-in") : "");
  resp.body = r.method + " " + r.target + " " + r.body;
  w(std::move(resp));
}

TEST(Client, ParsesUrls) {
  auto u = ParseHttpUrl("http://10.0.0.7:8000/prefix/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "10.0.0.7");
  EXPECT_EQ(u->port, "8000");
  EXPECT_EQ(u->prefix, "/prefix");
  EXPECT_EQ(ParseHttpUrl("http://h")->port, "80");
  EXPECT_FALSE(ParseHttpUrl("ftp://h:1").ok());
  EXPECT_FALSE(ParseHttpUrl("http://h:x").ok());
}

TEST(Client, ForwardsAndReusesConnections) {
  std::set<std::string> remotes;
  std::mutex mu;
  TestServer node([&](Request&& r, Responder w) {
    {
      std::lock_guard<std::mutex> l(mu);
      remotes.insert(r.remote);
    }
    Response resp;
    resp.body = r.method + " " + r.path + " " + r.body + " " + (r.Header("x-a") ? *r.Header("x-a") : "");
    w(std::move(resp));
  });
  Client c;
  for (int i = 0; i < 3; ++i) {
    std::promise<StatusOr<ClientResponse>> p;
    ClientRequest req;
    req.target = "/x";
    req.body = "hi";
    req.headers = {{"x-a", "b"}};
    c.Send(node.url, req, std::chrono::steady_clock::now() + 2s,
           [&](const StatusOr<ClientResponse>& r) { p.set_value(r); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /x hi b");
  }
  EXPECT_EQ(remotes.size(), 1u);  // one keep-alive connection served all three
}

// Answers each request with the next of `answers`, written as given, on whichever connection it
// came; closes a connection after an answer that says "Connection: close". Counts connections.
class RawServer {
 public:
  explicit RawServer(std::vector<std::string> answers) : answers_(std::move(answers)) {
    namespace asio = boost::asio;
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    url = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    thread_ = std::thread([this] { Run(); });
  }
  ~RawServer() {
    stop_ = true;
    boost::system::error_code ignored;
    boost::asio::ip::tcp::socket wake(io_);  // unblocks a pending accept
    wake.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
  }
  std::string url;
  std::atomic<int> connections{0};

 private:
  void Run() {
    while (!stop_) {
      boost::asio::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      ++connections;
      std::string in;
      while (next_ < answers_.size()) {
        const size_t head = boost::asio::read_until(s, boost::asio::dynamic_buffer(in), "\r\n\r\n", ec);
        if (ec) break;  // the client closed the connection
        in.erase(0, head);
        const std::string& answer = answers_[next_++];
        boost::asio::write(s, boost::asio::buffer(answer), ec);
        if (ec || answer.find("Connection: close") != std::string::npos) break;
      }
    }
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::vector<std::string> answers_;
  size_t next_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(Client, ReadsAChunkedAnswerWithEveryFieldInOrder) {
  RawServer node(
      {"HTTP/1.1 200 OK\r\nX-Mixed-Case: a\r\nx-mixed-case:  b \r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"});
  Client client;
  auto r = SendAndWait(client, node.url, ClientRequest{}, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"x-mixed-case", "a"}, {"x-mixed-case", "b"}, {"transfer-encoding", "chunked"}};
  EXPECT_EQ(r->headers, want);
  EXPECT_EQ(r->body, "hello world");
}

TEST(Client, KeepsAConnectionOnlyWhenItsAnswerAllowsIt) {
  RawServer node(
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb",
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nc",
       "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nd", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\ne"});
  Client client;
  std::string bodies;
  for (int i = 0; i < 5; ++i) {
    auto r = SendAndWait(client, node.url, ClientRequest{}, std::chrono::steady_clock::now() + 10s);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    bodies += r->body;
  }
  EXPECT_EQ(bodies, "abcde");
  // a, b and c on one connection (c closes it); HTTP/1.0 without keep-alive: one each for d and e.
  EXPECT_EQ(node.connections.load(), 3);
}

TEST(Client, RefusesAnAnswerLargerThanItsLimit) {
  RawServer node(
      {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"});
  ClientOptions limited;
  limited.max_response_bytes = 8;
  Client client(limited);
  for (int i = 0; i < 2; ++i) {
    auto r = SendAndWait(client, node.url, ClientRequest{}, std::chrono::steady_clock::now() + 10s);
    SCOPED_TRACE(i);
    ASSERT_FALSE(r.ok()) << r->body;
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  }
}

TEST(Client, SendAndWaitReturnsTheAnswer) {
  TestServer echo(Echo);
  Client client;
  ClientRequest req;
  req.target = "/ai/run/m";
  req.headers = {{"X-In", "v"}};
  req.body = "hello";
  auto r = SendAndWait(client, echo.url, req, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "POST /ai/run/m hello");
  ASSERT_NE(r->Header("x-echo"), nullptr);
  EXPECT_EQ(*r->Header("x-echo"), "v");
  ASSERT_NE(r->Header("content-type"), nullptr);
  EXPECT_EQ(*r->Header("content-type"), "text/plain");
}

TEST(Client, HeadAnswerHasNoBodyAndKeepsTheConnection) {
  TestServer echo(Echo);  // answers HEAD with the Content-Length of a body it does not send
  Client client;
  ClientRequest head;
  head.method = "HEAD";
  head.target = "/blob";
  auto r = SendAndWait(client, echo.url, head, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "");
  ASSERT_NE(r->Header("content-length"), nullptr);
  EXPECT_EQ(*r->Header("content-length"), "11");  // "HEAD /blob "
  ClientRequest get;
  get.method = "GET";
  get.target = "/after";
  auto g = SendAndWait(client, echo.url, get, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->body, "GET /after ");
}

TEST(Client, PerCallBodyLimit) {
  TestServer echo(Echo);
  Client client;
  ClientRequest req;
  req.body = std::string(100, 'x');
  req.max_response_bytes = 50;
  auto r = SendAndWait(client, echo.url, req, std::chrono::steady_clock::now() + 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("body limit"), std::string::npos) << r.status().ToString();
  req.max_response_bytes = 200;
  r = SendAndWait(client, echo.url, req, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "POST / " + std::string(100, 'x'));
}

TEST(Client, BodySinkReceivesA2xxBodyInsteadOfTheResponse) {
  TestServer node([](Request&& r, Responder w) {
    Response resp;
    resp.status = r.target == "/missing" ? 404 : 200;
    resp.body = r.target == "/missing" ? "not here" : std::string(300000, 'b');
    w(std::move(resp));
  });
  Client client;
  std::string sunk;
  size_t pieces = 0;
  ClientRequest req;
  req.method = "GET";
  req.target = "/big";
  req.max_response_bytes = 400000;
  req.body_sink = [&](const ClientResponse& head, std::string_view piece) {
    EXPECT_EQ(head.status, 200);
    sunk.append(piece);
    ++pieces;
    return Status();
  };
  auto r = SendAndWait(client, node.url, req, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(sunk, std::string(300000, 'b'));
  EXPECT_GE(pieces, 1u);
  // Another status keeps its body in the response; the sink sees nothing.
  sunk.clear();
  req.target = "/missing";
  r = SendAndWait(client, node.url, req, std::chrono::steady_clock::now() + 10s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "not here");
  EXPECT_EQ(sunk, "");
  // The sink's error ends the call with that error.
  req.target = "/big";
  req.body_sink = [](const ClientResponse&, std::string_view) { return FailedPrecondition("disk full"); };
  r = SendAndWait(client, node.url, req, std::chrono::steady_clock::now() + 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "disk full");
}

TEST(Client, SendAndWaitReportsAnUnreachableServer) {
  Client client;
  auto r = SendAndWait(client, "http://127.0.0.1:1", ClientRequest{}, std::chrono::steady_clock::now() + 10s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(Client, SendAndWaitRefusesABadUrlAndAnUnsafeRequest) {
  Client client;
  auto bad_url = SendAndWait(client, "ftp://h:1", ClientRequest{}, std::chrono::steady_clock::now() + 10s);
  EXPECT_EQ(bad_url.status().code(), StatusCode::kInvalidArgument) << bad_url.status().ToString();
  ClientRequest unsafe;
  unsafe.headers = {{"X-A", "b\r\nX-Injected: 1"}};
  auto r = SendAndWait(client, "http://127.0.0.1:1", unsafe, std::chrono::steady_clock::now() + 10s);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
}

// Waiting on the I/O thread would wait for ever: it fails at once and nothing is sent.
TEST(Client, AwaitCallOnTheIoThreadFailsInsteadOfHanging) {
  for (bool shared_loop : {false, true}) {
    std::shared_ptr<IoLoop> loop;
    if (shared_loop) loop = IoLoop::Start().value();
    Client client(ClientOptions{.loops = loop ? std::vector{loop} : std::vector<std::shared_ptr<IoLoop>>{}});
    EXPECT_FALSE(client.InIoThread());
    std::promise<std::pair<bool, StatusOr<ClientResponse>>> on_io;
    client.Post([&] {
      bool sent = false;
      auto r = AwaitCall(client, [&](ClientCallback) {
        sent = true;
        return std::shared_ptr<ClientCall>();
      });
      on_io.set_value({sent, std::move(r)});
    });
    auto [sent, r] = on_io.get_future().get();
    EXPECT_FALSE(sent);
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  }
}

// The client writes the head it builds itself, then the body: the same bytes as Beast's
// serializer writes for the message (repeated names, a caller's Content-Length or
// Transfer-Encoding, a request without a body, a path prefix).
TEST(Client, RequestHeadIsTheBytesBeastWrites) {
  std::vector<std::pair<ParsedUrl, ClientRequest>> cases;
  ClientRequest post;
  post.target = "/v2/models/m/infer?x=%0d";
  post.headers = {{"X-A", "1"},
                  {"x-a", "2"},
                  {"Content-Length", "99"},
                  {"Transfer-Encoding", "chunked"},
                  {"Authorization", "Bearer t"}};
  post.body = R"({"inputs":[]})";
  cases.emplace_back(ParsedUrl{"10.0.0.1", "8000", "/pre"}, post);
  ClientRequest get;
  get.method = "GET";
  get.target = "/v2/health/ready";
  cases.emplace_back(ParsedUrl{"::1", "80", ""}, get);
  ClientRequest empty_post;  // no target, no body
  cases.emplace_back(ParsedUrl{"node", "1", ""}, empty_post);
  // Written directly (no header Beast rewrites): values with spaces and tabs around them, known
  // and unknown names in any case, methods with and without a length for an empty body.
  ClientRequest plain;
  plain.target = "/v2/models/add_sub/infer";
  plain.headers = {{"content-type", "application/json"},
                   {"Accept-Encoding", " gzip, deflate\t"},
                   {"X-Request-Id", "  r-1 "},
                   {"x-empty", ""},
                   {"Keep-Alive", "timeout=5"},
                   {"Proxy-Connection", "close"},
                   {"inference-header-content-length", "12"}};
  plain.body = std::string("{\"inputs\":[]}") + std::string("\0\x01", 2);
  cases.emplace_back(ParsedUrl{"127.0.0.1", "8000", ""}, plain);
  for (const char* method :
       {"GET", "HEAD", "DELETE", "OPTIONS", "PUT", "POST", "PATCH", "post", "TRACE", "MKCOL"}) {
    ClientRequest r = plain;
    r.method = method;
    r.body.clear();
    cases.emplace_back(ParsedUrl{"h", "9", "/a/b"}, r);
    r.body = "x";
    if (r.method != "TRACE") cases.emplace_back(ParsedUrl{"h", "9", "/a/b"}, r);
  }
  // Rewritten by Beast: Host, Connection and a name given twice.
  for (const std::pair<std::string, std::string>& extra :
       {std::pair<std::string, std::string>{"Host", "elsewhere"},
        {"Connection", "close, Upgrade"},
        {"connection", "keep-alive"},
        {"CONTENT-TYPE", "text/plain"},
        {"transfer-encoding", "gzip"}}) {
    ClientRequest r = plain;
    r.headers.push_back(extra);
    cases.emplace_back(ParsedUrl{"node", "8000", ""}, r);
  }
  for (const auto& [url, req] : cases) {
    SCOPED_TRACE(req.method + " " + std::to_string(req.headers.size()) + " headers, body " +
                 std::to_string(req.body.size()));
    auto beast_request = internal::BeastClientRequest(url, req);
    ASSERT_TRUE(beast_request.ok()) << beast_request.status().ToString();
    std::ostringstream beast;
    beast << *beast_request;
    auto built = internal::BuildClientRequest(url, req);
    ASSERT_TRUE(built.ok()) << built.status().ToString();
    EXPECT_EQ(internal::ClientRequestHead(*built) + built->body(), beast.str());
    auto written = WriteClientRequest(url, req);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    EXPECT_EQ(*written, beast.str());
  }
  // Both refuse the same requests, with the same message.
  ClientRequest bad = plain;
  bad.headers.emplace_back("X-Bad", "a\r\nInjected: 1");
  ClientRequest bad_host = plain;
  ClientRequest trace = plain;
  trace.method = "TRACE";
  for (const auto& [url, req] :
       std::vector<std::pair<ParsedUrl, ClientRequest>>{{ParsedUrl{"node", "1", ""}, bad},
                                                        {ParsedUrl{"no\rde", "1", ""}, bad_host},
                                                        {ParsedUrl{"n", "1", ""}, trace}}) {
    auto built = internal::BuildClientRequest(url, req);
    auto beast_request = internal::BeastClientRequest(url, req);
    ASSERT_FALSE(built.ok());
    ASSERT_FALSE(beast_request.ok());
    EXPECT_EQ(built.status().ToString(), beast_request.status().ToString());
  }
}

}  // namespace
}  // namespace continuum::http
